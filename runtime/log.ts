import { pino } from 'pino';
import type { Log } from './types.ts';

export interface LogOptions {
  level?: string;
  /** Write to this fd (default stdout=1). Demo logs to stderr so stdout shows platform traffic. */
  fd?: number;
}

export function createLog(opts: LogOptions = {}): Log {
  return pino(
    {
      level: opts.level ?? process.env.WAYSIDE_LOG_LEVEL ?? 'info',
      base: { app: 'wayside' },
      redact: { paths: ['password', '*.password', 'key', '*.key', 'secret', '*.secret'], censor: '[redacted]' },
    },
    pino.destination({ fd: opts.fd ?? 1, sync: false }),
  );
}

/** A silent logger for tests and benchmarks. */
export function silentLog(): Log {
  return pino({ level: 'silent' });
}
