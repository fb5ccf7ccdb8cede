/** The open-model MQTT load of the `open` and `memory` phases: 500 connections, json1, at `--rate` messages/s. */
import {
  closeFixedFleet,
  connectFixedFleet,
  type FixedMessage,
  type LoadResult,
  openModel,
} from '../../../simulators/fleet/fixed-load.js';
import type { BenchOptions } from '../context.js';
import { PAYLOAD, tokenFor } from '../context.js';

export async function openLoad(
  url: string,
  opts: BenchOptions,
  minutes?: number,
  onSample?: () => void,
): Promise<LoadResult> {
  const payload = PAYLOAD.json1 as FixedMessage;
  const clients = await connectFixedFleet(url, 500, tokenFor('json1'));
  const durationMs = minutes !== undefined ? minutes * 60_000 : opts.durationS * 1000;
  const sampler = onSample ? setInterval(onSample, 5_000) : null;
  const r = await openModel(clients, payload, { ratePerSec: opts.rate, warmupMs: opts.warmupS * 1000, durationMs });
  if (sampler) clearInterval(sampler);
  await closeFixedFleet(clients);
  return r;
}
