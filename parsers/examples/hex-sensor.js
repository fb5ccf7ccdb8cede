/*
 * hex-sensor.js: a TagoIO payload parser for a 5-byte binary sensor frame sent as hex.
 *
 * Input: the record whose variable is `payload`, `payload_raw` or `data`, with a hex string value
 * (e.g. MQTT binary publishes arrive as `{ variable: "payload", value: "<hex>" }`).
 *
 * Frame layout (big-endian), 5 bytes; extra trailing bytes are ignored:
 *   bytes 0-1  battery     uint16, millivolts  -> record `battery`,     unit "V",  value mV / 1000
 *   bytes 2-3  temperature int16,  0.1 °C      -> record `temperature`, unit "°C", value raw / 10
 *   byte  4    humidity    uint8,  percent     -> record `humidity`,    unit "%"
 * Example: "0e10 00eb 37" = 3600 mV, 23.5 °C, 55 %  ->  "0e1000eb37".
 *
 * Output: the frame record is replaced by the three decoded records, which share one `group` (and the
 * frame's `time`, when it has one) so dashboards line them up; every other record passes through as is.
 * A missing, non-hex or short frame throws: the gateway then rejects the message (fail closed) instead
 * of storing a `parse_error` record.
 */
const frameRecord = payload.find(
  (r) => r.variable === 'payload' || r.variable === 'payload_raw' || r.variable === 'data',
);
if (!frameRecord) {
  throw new Error('hex-sensor: no payload, payload_raw or data record in the message');
}
const hex = String(frameRecord.value).replace(/\s+/g, '');
if (!/^([0-9a-fA-F]{2})+$/.test(hex)) {
  throw new Error(`hex-sensor: frame is not hex: "${hex.slice(0, 40)}"`);
}
const frame = Buffer.from(hex, 'hex');
if (frame.length < 5) {
  throw new Error(`hex-sensor: frame must be at least 5 bytes, got ${frame.length} ("${hex}")`);
}

const group = frameRecord.group || String(Date.now());
const common = frameRecord.time ? { group, time: frameRecord.time } : { group };
const decoded = [
  { variable: 'battery', value: frame.readUInt16BE(0) / 1000, unit: 'V', ...common },
  { variable: 'temperature', value: frame.readInt16BE(2) / 10, unit: '°C', ...common },
  { variable: 'humidity', value: frame.readUInt8(4), unit: '%', ...common },
];

payload = payload.filter((r) => r !== frameRecord).concat(decoded);
