// The check framework of `wayside doctor`: a check answers pass, warn, fail or skip with one
// line of detail and, when it is not a pass, a one-line fix hint. Checks run in parallel, each
// bounded by its own timeout (a check past it fails, saying so); a chain runs its steps in
// order and skips the steps after a failed one (DNS, then TCP, then TLS...). The exit code is
// the worst status: 0 pass (or skip), 1 warn, 2 fail.

export type CheckStatus = 'pass' | 'warn' | 'fail' | 'skip';

/** What one check found. */
export interface Outcome {
  status: CheckStatus;
  /** One line: what was found, with the figures. */
  detail: string;
  /** One line: what to do about it (warn and fail; absent for pass and most skips). */
  hint?: string;
}

/** One line of the report. */
export interface CheckResult extends Outcome {
  /** Stable id, e.g. `config`, `port:/dev/ttyUSB0`, `device:meter-3`, `platform.tls`. */
  id: string;
  title: string;
  /** How long the check took. */
  ms: number;
}

export interface Check {
  id: string;
  title: string;
  /** Past this the check fails with "no answer within N s" (the work it started is abandoned). */
  timeoutMs: number;
  /** What to tell the technician when the check timed out (default: a generic line). */
  timeoutHint?: string;
  run(): Promise<Outcome>;
}

const RANK: Record<CheckStatus, number> = { skip: 0, pass: 0, warn: 1, fail: 2 };

/** 0 when every check passed or was skipped, 1 when the worst is a warning, 2 when one failed. */
export function exitCode(results: readonly Pick<CheckResult, 'status'>[]): 0 | 1 | 2 {
  return results.reduce<0 | 1 | 2>((worst, r) => Math.max(worst, RANK[r.status]) as 0 | 1 | 2, 0);
}

/** The worst status of a run (pass when every check passed or was skipped). */
export function worstStatus(results: readonly Pick<CheckResult, 'status'>[]): 'pass' | 'warn' | 'fail' {
  return (['pass', 'warn', 'fail'] as const)[exitCode(results)];
}

/** Resolves with p's value, or rejects with a TimeoutError after ms. */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(`${what}: no answer within ${seconds(ms)}`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

export class TimeoutError extends Error {}

/** "3 s", "1.5 s". */
export function seconds(ms: number): string {
  return `${Math.round(ms / 100) / 10} s`;
}

/** Runs one check within its timeout; never rejects (a throw is a fail naming the error). */
export async function runCheck(check: Check): Promise<CheckResult> {
  const t0 = performance.now();
  let out: Outcome;
  try {
    out = await withTimeout(check.run(), check.timeoutMs, check.title);
  } catch (err) {
    out = err instanceof TimeoutError
      ? { status: 'fail', detail: err.message, hint: check.timeoutHint ?? 'something this check waits for hangs: run the check again; if it persists, look at what it names' }
      : { status: 'fail', detail: `the check itself failed: ${errorText(err)}`, hint: 'this is a bug in wayside doctor: please report it with this line' };
  }
  return { id: check.id, title: check.title, ...out, ms: Math.round(performance.now() - t0) };
}

/**
 * Runs steps in order; after a failed step the later ones are skipped, naming it. Each step
 * has its own timeout, cut to what is left of `budgetMs` for the whole chain.
 */
export async function runChain(steps: readonly Check[], budgetMs: number): Promise<CheckResult[]> {
  const end = performance.now() + budgetMs;
  const out: CheckResult[] = [];
  let failed: CheckResult | undefined;
  for (const step of steps) {
    if (failed) {
      out.push({ id: step.id, title: step.title, status: 'skip', detail: `not tried: ${failed.title} failed`, ms: 0 });
      continue;
    }
    const left = Math.max(1, Math.floor(end - performance.now()));
    const r = await runCheck({ ...step, timeoutMs: Math.min(step.timeoutMs, left) });
    out.push(r);
    if (r.status === 'fail') failed = r;
  }
  return out;
}

export function errorText(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}
