// The agent's logger: pino JSON lines on stdout (journald's priority prefix under systemd), and
// the in-memory ring of the last lines that `logs.tail` serves.
import { fstatSync } from 'node:fs';
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

/** pino level → syslog priority (10 trace and 20 debug → 7 debug, 30 → 6 info, 40 → 4 warning, 50 → 3 err, 60 → 2 crit). */
export function syslogPriority(level: number): number {
  return level >= 60 ? 2 : level >= 50 ? 3 : level >= 40 ? 4 : level >= 30 ? 6 : 7;
}

/**
 * Under systemd, stdout goes to journald (it sets JOURNAL_STREAM to the stream's device:inode).
 * journald reads a leading `<N>` as the line's syslog priority (SyslogLevelPrefix=yes, the
 * default) and strips it, so `journalctl -p err` finds errors and the message stays one JSON
 * object. Only when the fd written to is that very stream, so a redirected stdout stays pure JSON.
 */
export function isJournalStream(fd: number, env: NodeJS.ProcessEnv = process.env): boolean {
  const m = /^(\d+):(\d+)$/.exec(env.JOURNAL_STREAM ?? '');
  if (!m) return false;
  try {
    const st = fstatSync(fd, { bigint: true });
    return st.dev === BigInt(m[1]) && st.ino === BigInt(m[2]);
  } catch {
    return false;
  }
}

export function createLog(opts: LogOptions = {}): Log {
  const fd = opts.fd ?? 1;
  const dest = pino.destination({ fd, sync: false });
  const ring = opts.ring;
  const journal = isJournalStream(fd);
  // One line per write; pino's line starts with {"level":N.
  const prefix = (s: string) => {
    const m = /^\{"level":(\d+)/.exec(s);
    return m ? `<${syslogPriority(Number(m[1]))}>${s}` : s;
  };
  // With a ring or the journal, a thin wrapper; otherwise pino writes to fd as before.
  const stream = ring || journal
    ? {
        write(s: string) {
          ring?.push(s);
          return dest.write(journal ? prefix(s) : s);
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
