/*
 * fahrenheit-to-celsius.js: a TagoIO payload parser that converts the `temperature` record from °F to °C
 * (value = (value - 32) * 5 / 9, rounded to 2 decimals, unit "°C") and leaves every other record as it is.
 * A temperature already in Celsius (unit "C" or "°C") is left alone; a non-numeric one throws.
 */
payload = payload.map((record) => {
  if (record.variable !== 'temperature') return record;
  if (record.unit === 'C' || record.unit === '°C') return record;
  const fahrenheit = Number(record.value);
  if (record.value === '' || record.value === null || Number.isNaN(fahrenheit)) {
    throw new Error(`temperature is not a number: ${JSON.stringify(record.value)}`);
  }
  const celsius = Math.round(((fahrenheit - 32) * 5 * 100) / 9) / 100;
  return { ...record, value: celsius, unit: '°C' };
});
