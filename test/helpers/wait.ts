// Waiting in tests: the one polling helper of the suite (poll with a deadline), and sleep.

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Resolves with fn()'s value once it is neither undefined nor false (checked every 10 ms); rejects naming `what` after `ms`. */
export async function waitFor<T>(fn: () => T | undefined | false, what = 'condition', ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(10);
  }
}

/** Resolves once cond() is true; rejects naming `what` after `ms`. */
export async function until(cond: () => boolean, ms = 10_000, what = 'condition'): Promise<void> {
  await waitFor(() => cond() || undefined, what, ms);
}
