// The injected time source for tests: nothing moves unless the test moves it.
import type { ClockFlag } from '../../runtime/types.ts';
import type { Clock } from '../../runtime/types.ts';

export interface ManualClock extends Clock {
  /** Move both clocks forward (time passing). */
  advance(ms: number): void;
  /** Step the wall clock only (what NTP does to an unset clock). */
  step(deltaMs: number): void;
  setTrusted(trusted: boolean): void;
  correction(flag: ClockFlag): number | undefined;
  setCorrection(boot: string, offsetMs: number): void;
  readonly boot: string;
}

export function createManualClock(opts: { wall?: number; mono?: number; trusted?: boolean; boot?: string } = {}): ManualClock {
  let wallMs = opts.wall ?? Date.UTC(2026, 5, 1, 12, 0, 0);
  let monoMs = opts.mono ?? 1000;
  let trusted = opts.trusted ?? true;
  const boot = opts.boot ?? 'test-boot';
  const corrections = new Map<string, number>();
  return {
    boot,
    now: () => wallMs,
    mono: () => monoMs,
    trusted: () => trusted,
    flag: () => (trusted ? undefined : { state: 'untrusted', boot }),
    advance(ms) { wallMs += ms; monoMs += ms; },
    step(deltaMs) { wallMs += deltaMs; },
    setTrusted(t) { trusted = t; },
    correction: (flag) => (flag.state === 'untrusted' && flag.boot ? corrections.get(flag.boot) : undefined),
    setCorrection(b, off) { corrections.set(b, off); },
  };
}
