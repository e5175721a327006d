// How a doctor run is shown: aligned text for the technician (one line per check, its fix hint
// under it) and one JSON document for machines (docs/doctor.md describes both).
import { exitCode, worstStatus, type CheckResult } from './check.ts';

/** The whole run, as `--json` prints it. */
export interface DoctorReport {
  v: 1;
  /** The gateway id, when the config could be read. */
  gateway?: string;
  /** Absolute path of the config file checked. */
  config: string;
  /** The worst status of the run. */
  status: 'pass' | 'warn' | 'fail';
  /** What the process exits with: 0 pass, 1 warn, 2 fail. */
  exitCode: 0 | 1 | 2;
  /** Wall time of the run. */
  ms: number;
  checks: CheckResult[];
}

export function makeReport(config: string, gateway: string | undefined, checks: CheckResult[], ms: number): DoctorReport {
  return { v: 1, ...(gateway !== undefined && { gateway }), config, status: worstStatus(checks), exitCode: exitCode(checks), ms: Math.round(ms), checks };
}

const LABEL = { pass: 'PASS', warn: 'WARN', fail: 'FAIL', skip: 'SKIP' } as const;

export function renderJson(r: DoctorReport): string {
  return JSON.stringify(r, null, 2) + '\n';
}

/** Colours only when `color` (a terminal); the words PASS/WARN/FAIL/SKIP carry the meaning alone. */
export function renderText(r: DoctorReport, opts: { color?: boolean } = {}): string {
  const paint = (s: string, code: number) => (opts.color ? `\x1b[${code}m${s}\x1b[0m` : s);
  const colour = { pass: 32, warn: 33, fail: 31, skip: 90 } as const;
  const width = Math.min(28, Math.max(0, ...r.checks.map((c) => c.title.length)));
  const lines = [`wayside doctor: ${r.gateway ? `gateway ${r.gateway}, ` : ''}config ${r.config}`, ''];
  for (const c of r.checks) {
    lines.push(`${paint(LABEL[c.status], colour[c.status])}  ${c.title.padEnd(width)}  ${c.detail}`);
    if (c.hint && c.status !== 'pass') lines.push(`${' '.repeat(6 + width)}  fix: ${c.hint}`);
  }
  const count = (s: CheckResult['status']) => r.checks.filter((c) => c.status === s).length;
  const parts = [`${count('pass')} passed`, `${count('warn')} warning${count('warn') === 1 ? '' : 's'}`, `${count('fail')} failed`];
  if (count('skip')) parts.push(`${count('skip')} skipped`);
  lines.push('', `${parts.join(', ')} in ${Math.round(r.ms / 100) / 10} s: ${r.status} (exit ${r.exitCode})`);
  return lines.join('\n') + '\n';
}
