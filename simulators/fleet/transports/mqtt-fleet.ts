/**
 * The MQTT side of the fleet: one `MqttDevice` per simulated device, connected on a ramp (`connectRatePerSec`)
 * so thousands of CONNECTs do not land on the broker in the same millisecond, and one sweep timer that
 * expires PUBACKs not received within `timeoutMs`.
 */
import { mulberry32, seedFrom } from '../../random.js';
import type { ConnectionEvents, MqttDeviceOptions } from './mqtt-device.js';
import { MqttDevice } from './mqtt-device.js';
import type { OutPoint, SimDevice, Transport, TransportEvents } from './transport.js';

export interface MqttFleetOptions extends Omit<MqttDeviceOptions, 'rng'> {
  connectRatePerSec: number;
  timeoutMs: number;
  seed: number;
}

export class MqttFleet implements Transport {
  readonly #o: MqttFleetOptions;
  readonly #devices = new Map<number, MqttDevice>();
  #connected = 0;
  #sweep: NodeJS.Timeout | undefined;

  constructor(devices: readonly SimDevice[], o: MqttFleetOptions, ev: TransportEvents, conn: ConnectionEvents) {
    this.#o = o;
    const counting: ConnectionEvents = {
      connected: (first) => {
        this.#connected++;
        conn.connected(first);
      },
      connectFailed: () => conn.connectFailed(),
      disconnected: () => {
        this.#connected--;
        conn.disconnected();
      },
    };
    for (const d of devices) {
      const rng = mulberry32(seedFrom(`backoff-${o.seed}-${d.index}`));
      this.#devices.set(d.index, new MqttDevice(d, { ...o, rng }, ev, counting));
    }
  }

  async open(signal?: AbortSignal): Promise<void> {
    const all = [...this.#devices.values()];
    const firsts: Promise<boolean>[] = [];
    const tickMs = 10;
    const perTick = Math.max(1, Math.round((this.#o.connectRatePerSec * tickMs) / 1000));
    for (let i = 0; i < all.length; i += perTick) {
      if (signal?.aborted) break;
      for (const d of all.slice(i, i + perTick)) firsts.push(d.start());
      if (i + perTick < all.length) await new Promise((r) => setTimeout(r, tickMs));
    }
    await Promise.all(firsts);
    this.#sweep = setInterval(() => {
      const olderThan = this.#o.now() - this.#o.timeoutMs;
      for (const d of this.#devices.values()) d.expire(olderThan);
    }, 1000);
    this.#sweep.unref();
  }

  send(p: OutPoint): void {
    this.#devices.get(p.device.index)!.send(p);
  }

  outstanding(): number {
    let n = 0;
    for (const d of this.#devices.values()) n += d.queued + d.inFlight;
    return n;
  }

  queued(): number {
    let n = 0;
    for (const d of this.#devices.values()) n += d.queued;
    return n;
  }

  connectedCount(): number {
    return this.#connected;
  }

  storm(): void {
    for (const d of this.#devices.values()) d.storm();
  }

  async close(): Promise<void> {
    clearInterval(this.#sweep);
    for (const d of this.#devices.values()) d.stop();
  }
}
