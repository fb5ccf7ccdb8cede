/** `--name VALUE` from this process's argv, or `fallback` when the flag (or its value) is missing. */
export function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}
