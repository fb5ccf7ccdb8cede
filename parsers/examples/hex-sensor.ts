/*
 * hex-sensor.ts: hex-sensor.js with types (the gateway strips them with esbuild; it does not type-check).
 * Same frame (big-endian, 5 bytes): bytes 0-1 battery mV (uint16) -> `battery` V; bytes 2-3 temperature
 * int16 / 10 -> `temperature` °C; byte 4 -> `humidity` %. The frame record is replaced by the three
 * records sharing one `group`; a missing, non-hex or short frame throws.
 */
interface TagoRecord {
  variable: string;
  value?: string | number | boolean;
  unit?: string;
  group?: string;
  time?: string;
  metadata?: Record<string, unknown>;
}

declare let payload: TagoRecord[];

const FRAME_VARIABLES: ReadonlySet<string> = new Set(['payload', 'payload_raw', 'data']);

const frameRecord: TagoRecord | undefined = payload.find((r) => FRAME_VARIABLES.has(r.variable));
if (!frameRecord) {
  throw new Error('hex-sensor: no payload, payload_raw or data record in the message');
}
const hex: string = String(frameRecord.value).replace(/\s+/g, '');
if (!/^([0-9a-fA-F]{2})+$/.test(hex)) {
  throw new Error(`hex-sensor: frame is not hex: "${hex.slice(0, 40)}"`);
}
const frame: Buffer = Buffer.from(hex, 'hex');
if (frame.length < 5) {
  throw new Error(`hex-sensor: frame must be at least 5 bytes, got ${frame.length} ("${hex}")`);
}

const group: string = frameRecord.group || String(Date.now());
const common: Pick<TagoRecord, 'group' | 'time'> = frameRecord.time ? { group, time: frameRecord.time } : { group };
const decoded: TagoRecord[] = [
  { variable: 'battery', value: frame.readUInt16BE(0) / 1000, unit: 'V', ...common },
  { variable: 'temperature', value: frame.readInt16BE(2) / 10, unit: '°C', ...common },
  { variable: 'humidity', value: frame.readUInt8(4), unit: '%', ...common },
];

payload = payload.filter((r) => r !== frameRecord).concat(decoded);
