/**
 * Checks and the verdict. A check is one SLO judged in one scenario: target, measured value, and a status.
 * `not-measured` is never a pass or a guess: it says the gate could not observe the quantity (e.g. loss
 * against a remote deployment without `--read-url`). Exit code: 1 when any check fails, else 0.
 */
export type CheckStatus = 'pass' | 'fail' | 'not-measured';

export interface Check {
  scenario: string;
  slo: string;
  target: string;
  measured: string;
  status: CheckStatus;
  /** The raw number, for report.json consumers. */
  value?: number;
  note?: string;
}

export function check(
  scenario: string,
  slo: string,
  target: string,
  value: number | undefined,
  pass: (v: number) => boolean,
  format: (v: number) => string,
  note?: string,
): Check {
  if (value === undefined || !Number.isFinite(value)) {
    return { scenario, slo, target, measured: 'not measured', status: 'not-measured', ...(note ? { note } : {}) };
  }
  return {
    scenario,
    slo,
    target,
    measured: format(value),
    status: pass(value) ? 'pass' : 'fail',
    value,
    ...(note ? { note } : {}),
  };
}

export const fmtMs = (v: number): string => (v >= 10_000 ? `${(v / 1000).toFixed(1)} s` : `${v.toFixed(1)} ms`);
export const fmtPct = (v: number, digits = 2): string => `${(v * 100).toFixed(digits)} %`;
export const fmtInt = (v: number): string => Math.round(v).toLocaleString('en-US');

export interface Verdict {
  pass: boolean;
  failed: number;
  notMeasured: number;
  checks: Check[];
}

export function verdictOf(checks: Check[]): Verdict {
  const failed = checks.filter((c) => c.status === 'fail').length;
  const notMeasured = checks.filter((c) => c.status === 'not-measured').length;
  return { pass: failed === 0 && checks.length > 0, failed, notMeasured, checks };
}

const STATUS_TEXT: Record<CheckStatus, string> = { pass: 'PASS', fail: 'FAIL', 'not-measured': 'NOT MEASURED' };

/** A plain-text table (no colour codes: it is read in CI logs and pasted into issues). */
export function verdictTable(v: Verdict): string {
  const head = ['scenario', 'SLO', 'target', 'measured', 'result'];
  const rows = v.checks.map((c) => [c.scenario, c.slo, c.target, c.measured, STATUS_TEXT[c.status]]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  const out = [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)];
  out.push('');
  out.push(
    v.pass
      ? `VERDICT: PASS (${v.checks.length} checks${v.notMeasured ? `, ${v.notMeasured} not measured` : ''})`
      : `VERDICT: FAIL (${v.failed} of ${v.checks.length} checks failed)`,
  );
  return out.join('\n');
}
