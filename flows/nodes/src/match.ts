// Filters and checks shared by the nodes: wildcard patterns for device/point/event type, and
// the name rules of the config (runtime/config/schema.ts POINT_REF_RE; a unit test keeps them equal).

export const DEVICE_RE = /^[a-z0-9][a-z0-9._-]{0,63}$/;
export const POINT_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
export const EVENT_TYPE_RE = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
export const SEVERITIES = ['info', 'warning', 'critical'] as const;
export const QUALITIES = ['good', 'uncertain', 'bad'] as const;
export const MAX_STRING_VALUE = 1024;

/**
 * "" or "*" matches anything; otherwise a comma-separated list of patterns where `*` is any run
 * of characters and `?` one character ("meter-*", "pm25,noise_db").
 */
export function wildcard(pattern: string | undefined): (s: string | undefined) => boolean {
  const p = (pattern ?? '').trim();
  if (p === '' || p === '*') return () => true;
  const alts = p
    .split(',')
    .map((a) => a.trim())
    .filter((a) => a !== '')
    .map((a) => '^' + a.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.') + '$');
  const re = new RegExp(alts.join('|'));
  return (s) => s !== undefined && re.test(s);
}

/** The message of a bad-input error: which node, which field, what was wrong. */
export function bad(field: string, expected: string, got: unknown): Error {
  let shown: string;
  try {
    shown = JSON.stringify(got) ?? String(got);
  } catch {
    shown = String(got);
  }
  if (shown.length > 80) shown = shown.slice(0, 77) + '...';
  return new Error(`${field}: expected ${expected}, got ${shown}`);
}

/** A value a reading can carry or a device point can be written with. */
export function checkValue(field: string, v: unknown): number | boolean | string {
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw bad(field, 'a finite number, a boolean or a string', v);
    return v;
  }
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string') {
    if (v.length > MAX_STRING_VALUE) throw bad(field, `a string of at most ${MAX_STRING_VALUE} characters`, `${v.length} characters`);
    return v;
  }
  throw bad(field, 'a number, a boolean or a string', v);
}

export function checkDevice(field: string, v: unknown): string {
  if (typeof v !== 'string' || !DEVICE_RE.test(v)) throw bad(field, 'a device id (lowercase letters, digits, ".", "_", "-")', v);
  return v;
}

export function checkPoint(field: string, v: unknown): string {
  if (typeof v !== 'string' || !POINT_RE.test(v)) throw bad(field, 'a point name (letters, digits, ".", "_", "-")', v);
  return v;
}

/** Node config wins when set; else the msg property; else undefined. */
export function pick(configured: unknown, fromMsg: unknown): unknown {
  return typeof configured === 'string' && configured.trim() !== '' ? configured.trim() : fromMsg;
}

/**
 * Why a `wayside in` filter can match nothing the gateway has configured, for the node's status
 * (undefined: it can match). Devices whose driver cannot tell its points accept any point name.
 */
export function filterMismatch(devices: { id: string; points?: { name: string }[] }[], device: string | undefined, point: string | undefined): string | undefined {
  const any = (p: string | undefined) => (p ?? '').trim() === '' || (p ?? '').trim() === '*';
  const matched = devices.filter((d) => wildcard(device)(d.id));
  if (!any(device) && matched.length === 0) return `no configured device matches "${device!.trim()}"`;
  if (any(point) || matched.length === 0 || matched.some((d) => !d.points)) return undefined;
  const pm = wildcard(point);
  if (matched.some((d) => d.points!.some((p) => pm(p.name)))) return undefined;
  return any(device) ? `no configured point matches "${point!.trim()}"` : `no point "${point!.trim()}" on ${matched.length === 1 ? `"${matched[0].id}"` : 'the matching devices'}`;
}

/**
 * A node's optional number setting: empty = `dflt`; a value that is not a number > 0 (flows
 * deployed without the editor's validation) also gives `dflt`, and `warn` says so once.
 */
export function positiveSetting(raw: unknown, dflt: number, what: string, warn: (text: string) => void): number {
  if (raw === undefined || raw === null || String(raw).trim() === '') return dflt;
  const n = Number(raw);
  if (Number.isFinite(n) && n > 0) return n;
  warn(`${what}: expected a number more than 0, got ${JSON.stringify(raw)}; using the agent's default (${dflt})`);
  return dflt;
}
