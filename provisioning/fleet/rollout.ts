// Staged rollout, as plain logic (no MQTT): which gateways go in which stage, when a stage has
// failed too much to go on, and the tally. The fleet library (fleet.ts) runs it with a function
// that deploys to one gateway and resolves with that gateway's outcome.
//   stages: the `canary` gateways first, then ~10 % of the rest, then all the rest
//   stop:   after a stage (or as soon as it is certain) when
//           (rolled_back + failed + timeout) / gateways tried in the stage > maxFailureRate;
//           the gateways not tried are `skipped` ("stopped early")
// A refusal (bad_signature, stale_version, ...) changes nothing on the gateway: it counts as
// failed in the tally but not against the stage.

export type OutcomeStatus = 'confirmed' | 'rolled_back' | 'failed' | 'refused' | 'timeout' | 'skipped';

export interface Outcome {
  gw: string;
  status: OutcomeStatus;
  version: number;
  reason?: string;
  ms: number;
}

export interface StagePlan {
  /** Gateways deployed to first; default 1 when there are 2 or more gateways, else 0. */
  canary?: number;
  /** Fractions (0..1] of the gateways after the canaries for each later stage; the last stage always takes the rest. Default [0.1]. */
  steps?: number[];
}

/** Outcomes that count against a stage (a deploy that ran and did harm, or nobody knows). */
export const HARMFUL: ReadonlySet<OutcomeStatus> = new Set(['rolled_back', 'failed', 'timeout']);

/** Splits `gws` (kept in order) into stages: canaries, then each step of the rest, then the rest. Empty stages are left out. */
export function planStages(gws: string[], plan: StagePlan = {}): string[][] {
  const n = gws.length;
  if (n === 0) return [];
  const canary = Math.max(0, Math.min(n, Math.floor(plan.canary ?? (n >= 2 ? 1 : 0))));
  const stages: string[][] = [];
  if (canary > 0) stages.push(gws.slice(0, canary));
  const rest = gws.slice(canary);
  let at = 0;
  for (const f of plan.steps ?? [0.1]) {
    if (!(f > 0) || f > 1) throw new Error(`rollout step ${f}: expected a fraction in (0, 1]`);
    const size = Math.max(1, Math.ceil(rest.length * f));
    if (at + size >= rest.length) break;
    stages.push(rest.slice(at, at + size));
    at += size;
  }
  if (at < rest.length) stages.push(rest.slice(at));
  return stages;
}

/** Harmful outcomes / outcomes tried (skipped ones are not tried); 0 for none tried. */
export function failureRate(outcomes: Outcome[]): number {
  const tried = outcomes.filter((o) => o.status !== 'skipped');
  if (!tried.length) return 0;
  return tried.filter((o) => HARMFUL.has(o.status)).length / tried.length;
}

/** Runs `fn` over `items` with at most `limit` at once; results in input order. `stop()` true: no new item starts (its result is `onStopped(item)`). */
export async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T, i: number) => Promise<R>, stop?: () => boolean, onStopped?: (item: T) => R): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = stop?.() && onStopped ? onStopped(items[i]) : await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return out;
}

export interface RolloutOptions {
  version: number;
  maxFailureRate: number;
  /** Gateways deployed to at once within a stage (default 10). */
  concurrency?: number;
  onProgress?(o: Outcome): void;
}

export interface RolloutResult {
  outcomes: Outcome[];
  /** Why the rollout stopped before the last stage, if it did. */
  stoppedEarly?: string;
}

/**
 * Runs the stages in order with `deployOne`; stops when a stage's failure rate is above
 * `maxFailureRate` (checked after each outcome: once the harmful outcomes alone exceed the rate
 * for the whole stage, no further gateway of it starts). Gateways not tried are `skipped`.
 */
export async function runRollout(stages: string[][], deployOne: (gw: string) => Promise<Outcome>, opts: RolloutOptions): Promise<RolloutResult> {
  if (!(opts.maxFailureRate >= 0 && opts.maxFailureRate <= 1)) throw new Error(`maxFailureRate ${opts.maxFailureRate}: expected 0..1`);
  const outcomes: Outcome[] = [];
  let stoppedEarly: string | undefined;
  const skip = (gw: string): Outcome => ({ gw, status: 'skipped', version: opts.version, reason: `stopped early: ${stoppedEarly}`, ms: 0 });
  for (let s = 0; s < stages.length; s++) {
    const stage = stages[s];
    let harmful = 0;
    const label = s === 0 && stages.length > 1 ? 'canary stage' : `stage ${s + 1} of ${stages.length}`;
    const tooMany = () => harmful / stage.length > opts.maxFailureRate;
    const res = await mapLimit(
      stage,
      opts.concurrency ?? 10,
      async (gw) => {
        const o = await deployOne(gw);
        if (HARMFUL.has(o.status)) harmful++;
        opts.onProgress?.(o);
        return o;
      },
      tooMany,
      (gw) => {
        const o: Outcome = { gw, status: 'skipped', version: opts.version, reason: `stopped early: ${label} over the failure limit`, ms: 0 };
        opts.onProgress?.(o);
        return o;
      },
    );
    outcomes.push(...res);
    const rate = failureRate(res);
    if (rate > opts.maxFailureRate) {
      const bad = res.filter((o) => HARMFUL.has(o.status)).length;
      const tried = res.filter((o) => o.status !== 'skipped').length;
      stoppedEarly = `${label}: ${bad} of ${tried} gateways failed (rolled back, failed or timed out), more than the ${Math.round(opts.maxFailureRate * 100)} % allowed`;
      for (const gw of stages.slice(s + 1).flat()) {
        const o = skip(gw);
        opts.onProgress?.(o);
        outcomes.push(o);
      }
      break;
    }
  }
  return { outcomes, ...(stoppedEarly ? { stoppedEarly } : {}) };
}

export interface Tally {
  confirmed: number;
  /** Every outcome that is neither confirmed nor skipped (refused included). */
  failed: number;
  skipped: number;
}

export function tallyOf(outcomes: Outcome[]): Tally {
  const t: Tally = { confirmed: 0, failed: 0, skipped: 0 };
  for (const o of outcomes) {
    if (o.status === 'confirmed') t.confirmed++;
    else if (o.status === 'skipped') t.skipped++;
    else t.failed++;
  }
  return t;
}
