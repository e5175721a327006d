// Durations and sizes as operators write them ("5s", "256MiB") and as the runtime uses them
// (ms, bytes). A bare number is seconds / bytes so `keepalive: 30` means what MQTT users expect.
import { z } from 'zod';
import { expected } from './fields.ts';

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const SIZE_UNITS: Record<string, number> = {
  B: 1,
  KB: 1e3, kB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12,
  KiB: 2 ** 10, MiB: 2 ** 20, GiB: 2 ** 30, TiB: 2 ** 40,
};
const DURATION_RE = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$/;
const SIZE_RE = /^\s*(\d+(?:\.\d+)?)\s*(B|KB|kB|MB|GB|TB|KiB|MiB|GiB|TiB)?\s*$/;

/** "500ms" | "5s" | "10m" | "1h" | "7d" | seconds as a number -> ms. Throws on anything else. */
export function parseDuration(s: string | number): number {
  if (typeof s === 'number') {
    if (!Number.isFinite(s) || s < 0) throw new Error(`invalid duration ${s}: expected a non-negative number of seconds`);
    return Math.round(s * 1000);
  }
  const m = DURATION_RE.exec(s);
  if (!m) throw new Error(`invalid duration ${JSON.stringify(s)}: expected a number with a unit ms, s, m, h or d (e.g. "500ms", "5s", "10m")`);
  return Math.round(Number(m[1]) * DURATION_UNITS[m[2]]);
}

/** "256MiB" | "16MB" | "512KiB" | "100B" | bytes as a number -> bytes. Throws on anything else. */
export function parseSize(s: string | number): number {
  if (typeof s === 'number') {
    if (!Number.isFinite(s) || s < 0) throw new Error(`invalid size ${s}: expected a non-negative number of bytes`);
    return Math.round(s);
  }
  const m = SIZE_RE.exec(s);
  if (!m) throw new Error(`invalid size ${JSON.stringify(s)}: expected a number with a unit B, KB, MB, GB, KiB, MiB or GiB (e.g. "256MiB")`);
  return Math.round(Number(m[1]) * SIZE_UNITS[m[2] ?? 'B']);
}

/** Largest unit that divides exactly, for messages and docs: 3600000 -> "1h", 1500 -> "1500ms". */
export function formatDuration(ms: number): string {
  for (const u of ['d', 'h', 'm', 's'] as const) {
    if (ms !== 0 && ms % DURATION_UNITS[u] === 0) return `${ms / DURATION_UNITS[u]}${u}`;
  }
  return ms === 0 ? '0s' : `${ms}ms`;
}

export function formatSize(bytes: number): string {
  for (const u of ['TiB', 'GiB', 'MiB', 'KiB'] as const) {
    if (bytes !== 0 && bytes % SIZE_UNITS[u] === 0) return `${bytes / SIZE_UNITS[u]}${u}`;
  }
  return `${bytes}B`;
}

/**
 * A duration field: input "5s" or seconds, output ms, inclusive range [min, max].
 * Exported for driver schemas (`interval: duration('100ms', '1h').prefault('5s')`).
 */
export function duration(min: string | number, max: string | number) {
  const lo = parseDuration(min);
  const hi = parseDuration(max);
  const what = `duration ${formatDuration(lo)}-${formatDuration(hi)} (like "500ms", "30s", "5m", "1h"; a bare number is seconds)`;
  return measure(what, DURATION_RE, lo / 1000, hi / 1000, (v) => {
    const ms = parseDuration(v);
    return ms >= lo && ms <= hi ? ms : undefined;
  });
}

/** A size field: input "256MiB" or bytes, output bytes, inclusive range [min, max]. */
export function size(min: string | number, max: string | number) {
  const lo = parseSize(min);
  const hi = parseSize(max);
  const what = `size ${formatSize(lo)}-${formatSize(hi)} (like "512KiB", "16MB", "256MiB"; a bare number is bytes)`;
  return measure(what, SIZE_RE, lo, hi, (v) => {
    const b = parseSize(v);
    return b >= lo && b <= hi ? b : undefined;
  });
}

// The string pattern and the numeric range stay in the schema so the generated JSON Schema
// lets an editor flag "5 parsecs" or a too-large number; the string range is checked on parse.
function measure(what: string, re: RegExp, numMin: number, numMax: number, convert: (v: string | number) => number | undefined) {
  const error = expected(what);
  return z
    .union([z.string({ error }).regex(re), z.number({ error }).min(numMin).max(numMax)], { error })
    .transform((v, ctx) => {
      const out = convert(v);
      if (out === undefined) {
        ctx.issues.push({ code: 'custom', input: v, message: error({ input: v }) ?? what });
        return z.NEVER;
      }
      return out;
    })
    .describe(what);
}
