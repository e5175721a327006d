// Sortable unique ids (ULID layout: 48-bit ms time + 80 bits, Crockford base32, 26 chars).
// Monotonic within a process: ids made in the same ms increment the random part, so
// lexical order == creation order, which the platform uses to dedupe and sort.
import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

export interface IdGen {
  (now?: number): string;
}

/** Largest time a ULID can carry (48 bits of ms). */
const MAX_TIME = 2 ** 48 - 1;
/** A stamp further ahead of the host clock than this is not believed (it would hold every later id). */
export const MAX_AHEAD_MS = 86_400_000;

export function createIdGen(): IdGen {
  let lastTime = -1;
  const rand = new Uint8Array(10); // 80 bits
  return (stamp = Date.now()) => {
    // A fractional stamp (a monotonic-derived time) once encoded as "undefined" characters; a
    // non-finite, negative or far-future one never gets into an id: it falls back to the host time.
    const host = Date.now();
    let now = Number.isFinite(stamp) && stamp >= 0 && stamp <= Math.min(MAX_TIME, host + MAX_AHEAD_MS) ? Math.floor(stamp) : host;
    if (now <= lastTime) {
      now = lastTime;
      increment(rand);
    } else {
      lastTime = now;
      rand.set(randomBytes(10));
      rand[0] &= 0x7f; // headroom so increments within one ms never overflow
    }
    return encodeTime(now) + encodeRandom(rand);
  };
}

function increment(b: Uint8Array): void {
  for (let i = b.length - 1; i >= 0; i--) {
    if (b[i] < 255) { b[i]++; return; }
    b[i] = 0;
  }
}

function encodeTime(t: number): string {
  let s = '';
  for (let i = 0; i < 10; i++) {
    s = ALPHABET[t % 32] + s;
    t = Math.floor(t / 32);
  }
  return s;
}

function encodeRandom(b: Uint8Array): string {
  // 80 bits -> 16 base32 chars, 5 bits at a time, big-endian.
  let s = '';
  let acc = 0;
  let bits = 0;
  for (const byte of b) {
    acc = (acc << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      s += ALPHABET[(acc >> bits) & 31];
    }
    acc &= (1 << bits) - 1;
  }
  return s;
}

/** Milliseconds encoded in an id. */
export function idTime(id: string): number {
  let t = 0;
  for (let i = 0; i < 10; i++) t = t * 32 + ALPHABET.indexOf(id[i]);
  return t;
}

/** One process-wide generator: ids must be monotonic across every module of the agent. */
export const newId: IdGen = createIdGen();

/**
 * Ids stamped from a clock: what every ctx hands out. A generator whose stamp comes from a
 * payload's timestamp could be pushed into the future by one bad value, so callers never pass one.
 */
export function clockIds(clock: { now(): number }, gen: IdGen = newId): () => string {
  return () => gen(clock.now());
}
