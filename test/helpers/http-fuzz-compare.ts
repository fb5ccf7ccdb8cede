/**
 * How two outcomes of the same bytes (test/helpers/http-fuzz-run.ts) compare: the same, the lean server
 * stricter (it refused where Node went on, having agreed on everything before), or different (it served a
 * request Node did not, framed a body differently, or accepted what Node refused).
 */
import type { Outcome, SeenMessage } from './http-fuzz-run.js';

export type Verdict =
  | { kind: 'same' }
  /** The lean server refused (or cut at the client's end) where Node went on; `reason` is the lean server's. */
  | { kind: 'stricter'; reason: string }
  | { kind: 'differs'; what: string }
  /** Node refused; the lean server, agreeing so far, still waits for the rest of a head or chunk line. */
  | { kind: 'pending'; reason: string };

function sameMessage(a: SeenMessage, b: SeenMessage): boolean {
  return (
    a.method === b.method &&
    a.url === b.url &&
    a.version === b.version &&
    JSON.stringify(a.headers) === JSON.stringify(b.headers) &&
    a.body === b.body &&
    (a.body === null || a.keepAlive === b.keepAlive)
  );
}

/**
 * The requests served: one whose body never completed (refused, cut short, still arriving) was handed to
 * no one (its head may have reached the handler, which can do nothing without the body), so it is left out.
 */
function served(o: Outcome): SeenMessage[] {
  let n = o.messages.length;
  while (n > 0 && (o.messages[n - 1] as SeenMessage).body === null) n--;
  return o.messages.slice(0, n);
}

/** `lean` against `node` (the reference). */
export function compareOutcomes(node: Outcome, lean: Outcome): Verdict {
  const n = served(node);
  const l = served(lean);
  const shared = Math.min(n.length, l.length);
  for (let i = 0; i < shared; i++) {
    const a = l[i] as SeenMessage;
    const b = n[i] as SeenMessage;
    if (sameMessage(a, b)) continue;
    return { kind: 'differs', what: `message ${i}: lean ${JSON.stringify(a)} vs node ${JSON.stringify(b)}` };
  }
  if (l.length > n.length) {
    return { kind: 'differs', what: `lean served ${JSON.stringify(l.slice(n.length))} that node did not` };
  }
  if (l.length < n.length) {
    if (lean.refused !== null) return { kind: 'stricter', reason: lean.refused.reason };
    return { kind: 'differs', what: `node served ${JSON.stringify(n.slice(l.length))} that lean did not` };
  }
  if (node.refused !== null) {
    if (lean.refused !== null) return { kind: 'same' }; // the status may differ (431 before 400, say)
    if (lean.atEnd === 'cut') return { kind: 'pending', reason: node.refused.reason };
    return { kind: 'differs', what: `node refused (${node.refused.reason}), lean did not` };
  }
  if (lean.refused !== null) return { kind: 'stricter', reason: lean.refused.reason };
  if (lean.atEnd !== node.atEnd) {
    if (lean.atEnd === 'cut' && node.atEnd === 'idle') return { kind: 'stricter', reason: 'cut at the end' };
    return { kind: 'differs', what: `at the client's end: lean ${lean.atEnd} vs node ${node.atEnd}` };
  }
  return { kind: 'same' };
}
