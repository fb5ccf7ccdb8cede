/**
 * What the gateway's own `/metrics` say about a measured window: the mean time from a message's arrival to
 * its acknowledgement (`tago_edge_ingest_ack_seconds`), the parser stage's share of it
 * (`tago_edge_parser_seconds`, queueing included), and the group commits per second. The bench prints these
 * beside the client's view, so a run shows how much of the round trip is inside the gateway.
 */
import { request } from 'undici';

/** The sum of every sample of `name` (all label sets) in Prometheus text; NaN when there is none. */
export function metricSum(text: string, name: string): number {
  let sum = 0;
  let found = false;
  const re = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm');
  for (const m of text.matchAll(re)) {
    const v = Number(m[1]);
    if (Number.isFinite(v)) {
      sum += v;
      found = true;
    }
  }
  return found ? sum : Number.NaN;
}

interface Snapshot {
  at: number;
  ackSum: number;
  ackCount: number;
  parserSum: number;
  parserCount: number;
  commits: number;
}

async function snapshot(metricsUrl: string): Promise<Snapshot> {
  const res = await request(metricsUrl);
  const text = await res.body.text();
  return {
    at: performance.now(),
    ackSum: metricSum(text, 'tago_edge_ingest_ack_seconds_sum'),
    ackCount: metricSum(text, 'tago_edge_ingest_ack_seconds_count'),
    parserSum: metricSum(text, 'tago_edge_parser_seconds_sum'),
    parserCount: metricSum(text, 'tago_edge_parser_seconds_count'),
    commits: metricSum(text, 'tago_edge_store_commits_total'),
  };
}

export interface Inside {
  /** Mean arrival → acknowledgement inside the gateway, ms. */
  ackMs: number;
  /** Mean enqueue → outcome of the parser stage, ms (NaN when no parser ran). */
  parserMs: number;
  commitsPerSec: number;
}

/** Starts on the window's start edge and ends on its end edge; `result()` after both. */
export function insideMeter(metricsUrl: string) {
  // One scrape before the warm-up, so the first render's one-time costs fall outside the measured window.
  snapshot(metricsUrl).catch(() => undefined);
  let p0: Promise<Snapshot> | undefined;
  let p1: Promise<Snapshot> | undefined;
  return {
    onWindow(edge: 'start' | 'end'): void {
      if (edge === 'start') p0 = snapshot(metricsUrl);
      else p1 = snapshot(metricsUrl);
    },
    async result(): Promise<Inside | undefined> {
      if (!p0 || !p1) return undefined;
      const [a, b] = await Promise.all([p0, p1]);
      const per = (sum: number, count: number) => (count > 0 ? (1000 * sum) / count : Number.NaN);
      return {
        ackMs: per(b.ackSum - a.ackSum, b.ackCount - a.ackCount),
        parserMs: per(b.parserSum - a.parserSum, b.parserCount - a.parserCount),
        commitsPerSec: ((b.commits - a.commits) * 1000) / (b.at - a.at),
      };
    },
  };
}
