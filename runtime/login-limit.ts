// Per-address login lockout, shared by the flow editor's login and the status page: after
// LOGIN_MAX_FAILURES wrong logins within LOGIN_WINDOW_MS from one address, that address is refused
// until its failures age out, while every other address can still log in (a global throttle
// would let anyone who reaches the page lock the technician out). Bounded: at most
// MAX_ADDRESSES addresses are remembered (aged-out ones go first, then the oldest).

export const LOGIN_MAX_FAILURES = 5;
export const LOGIN_WINDOW_MS = 10 * 60_000;
const MAX_ADDRESSES = 10_000;

export interface LoginLimit {
  /** Failures of `ip` within the window (`>= LOGIN_MAX_FAILURES` means refused). */
  failures(ip: string, now: number): number;
  /** Counts a failed login of `ip`. */
  fail(ip: string, now: number): void;
  /** Forgets `ip`'s failures (after a good login). */
  clear(ip: string): void;
}

export function createLoginLimit(): LoginLimit {
  const failures = new Map<string, number[]>();
  const recent = (ip: string, now: number): number[] => {
    const list = (failures.get(ip) ?? []).filter((t) => now - t < LOGIN_WINDOW_MS);
    if (list.length) failures.set(ip, list);
    else failures.delete(ip);
    return list;
  };
  return {
    failures: (ip, now) => recent(ip, now).length,
    fail(ip, now) {
      if (!failures.has(ip) && failures.size >= MAX_ADDRESSES) {
        for (const k of failures.keys()) if (recent(k, now).length === 0) failures.delete(k);
        if (failures.size >= MAX_ADDRESSES) failures.delete(failures.keys().next().value!);
      }
      const list = failures.get(ip) ?? [];
      list.push(now);
      failures.set(ip, list.slice(-LOGIN_MAX_FAILURES));
    },
    clear: (ip) => void failures.delete(ip),
  };
}
