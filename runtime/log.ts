import { pino } from 'pino';
import type { Log } from './types.ts';

export interface LogOptions {
  level?: string;
  /** Write to this fd (default stdout=1). Demo logs to stderr so stdout shows platform traffic. */
  fd?: number;
  /** Also keep the last lines (as written, after redaction) in this ring: what `logs.tail` serves. */
  ring?: LogRing;
}

/** The last log lines in memory, bounded in count and per-line size. */
export interface LogRing {
  readonly max: number;
  push(line: string): void;
  /** The newest `n` lines (default all kept), oldest first. */
  lines(n?: number): string[];
}

/** A ring of the last `max` lines, each cut to `maxLineBytes` (UTF-16 units; a cut line ends with "…"). */
export function createLogRing(max = 500, maxLineBytes = 2048): LogRing {
  const buf: string[] = new Array(max);
  let next = 0;
  let size = 0;
  return {
    max,
    push(chunk) {
      // pino writes one line per call, newline-terminated.
      for (let line of chunk.split('\n')) {
        if (!line) continue;
        if (line.length > maxLineBytes) line = line.slice(0, maxLineBytes - 1) + '…';
        buf[next] = line;
        next = (next + 1) % max;
        if (size < max) size++;
      }
    },
    lines(n = size) {
      const k = Math.max(0, Math.min(n, size));
      const out: string[] = [];
      for (let i = k; i > 0; i--) out.push(buf[(next - i + max) % max]);
      return out;
    },
  };
}

export function createLog(opts: LogOptions = {}): Log {
  const dest = pino.destination({ fd: opts.fd ?? 1, sync: false });
  const ring = opts.ring;
  // With a ring, a thin wrapper hands each line to both; without, pino writes to fd as before.
  const stream = ring
    ? {
        write(s: string) {
          ring.push(s);
          return dest.write(s);
        },
        flush: (cb?: (err?: Error) => void) => dest.flush(cb),
        flushSync: () => dest.flushSync(),
        end: () => dest.end(),
      }
    : dest;
  return pino(
    {
      level: opts.level ?? process.env.WAYSIDE_LOG_LEVEL ?? 'info',
      base: { app: 'wayside' },
      redact: { paths: ['password', '*.password', 'key', '*.key', 'secret', '*.secret'], censor: '[redacted]' },
    },
    stream,
  );
}

/** A silent logger for tests and benchmarks. */
export function silentLog(): Log {
  return pino({ level: 'silent' });
}
