/*
 * key-value-text.js: a TagoIO payload parser for text frames like `temperature=21.5,humidity=40`.
 *
 * Input: the `payload` record (what a text/plain body or a non-JSON MQTT publish becomes).
 * Pairs are separated by `,` `;` or new lines; keys become lowercase variables (spaces -> `_`); numeric
 * values become numbers, `true`/`false` booleans, anything else stays text. All records of one frame share
 * a `group`. The text record is replaced by the decoded ones; other records pass through.
 * A pair without `=` or with an empty key throws, naming the pair.
 */
const textRecord = payload.find((r) => r.variable === 'payload');
if (!textRecord) throw new Error('key-value-text: no payload record in the message');

const text = String(textRecord.value).trim();
const group = textRecord.group || String(Date.now());
const decoded = [];
for (const pair of text.split(/[,;\n]+/)) {
  if (pair.trim() === '') continue;
  const eq = pair.indexOf('=');
  const key = (eq < 0 ? '' : pair.slice(0, eq)).trim().toLowerCase().replace(/\s+/g, '_');
  if (!key) throw new Error(`key-value-text: "${pair.trim()}" is not key=value`);
  const raw = pair.slice(eq + 1).trim();
  let value = raw;
  if (raw !== '' && !Number.isNaN(Number(raw))) value = Number(raw);
  else if (raw === 'true' || raw === 'false') value = raw === 'true';
  decoded.push({ variable: key, value, group });
}
if (decoded.length === 0) throw new Error('key-value-text: the payload text has no key=value pairs');

payload = payload.filter((r) => r !== textRecord).concat(decoded);
