// A stream that keeps itself connected: it opens a session (an ffmpeg child, a snapshot poll
// loop), and when the session ends or delivers nothing for the stall timeout (the session is
// then killed), opens a new one after an exponential backoff with jitter. It reports up (first
// data of a session) and down (the session's end, with the reason) to the driver, which owns
// the device state and the events.
import type { Clock, Log } from '../../runtime/types.ts';
import type { StreamFault } from './stderr.ts';

export interface SessionHandlers {
  /** One decoded frame, packed RGB24. */
  frame(data: Uint8Array, width: number, height: number): void;
  /** A chunk of mono s16le PCM (sound sessions). */
  pcm?(chunk: Buffer): void;
  /** The session is over (called once). */
  end(fault: StreamFault): void;
}

export interface Session {
  pid: number | undefined;
  /** Ends the session now (SIGKILL for a child); `why` is the reason reported. */
  kill(why?: StreamFault): void;
  /** Resolves once the session has fully ended (child reaped, requests aborted). */
  done: Promise<void>;
}

export type Opener = (h: SessionHandlers) => Session;

export interface StreamOptions {
  open: Opener;
  clock: Clock;
  log: Log;
  stallMs: number;
  /** Extra time a new session has for its first data (connect, probe the stream). */
  startMs: number;
  backoff: { minMs: number; maxMs: number };
  onFrame?(data: Uint8Array, width: number, height: number): void;
  onPcm?(chunk: Buffer): void;
  onUp(): void;
  onDown(fault: StreamFault): void;
}

export interface StreamStats {
  /** Sessions opened (the first connection included). */
  connects: number;
  /** Sessions that ended while the stream was meant to run. */
  drops: number;
  /** pid of the current child, if any. */
  pid?: number;
  up: boolean;
}

/** Backoff before attempt n (0-based) of a failing stream: min·2ⁿ capped at max, ±20 % jitter. */
export function backoffDelay(n: number, minMs: number, maxMs: number, rand = Math.random): number {
  const base = Math.min(maxMs, minMs * 2 ** Math.min(n, 30));
  return Math.round(Math.min(maxMs, base * (0.8 + rand() * 0.4)));
}

export function createStream(o: StreamOptions) {
  let running = false;
  let session: Session | undefined;
  let retry: NodeJS.Timeout | undefined;
  let watchdog: NodeJS.Timeout | undefined;
  let lastData = 0;
  let up = false;
  let gotData = false;
  let failures = 0;
  let connects = 0;
  let drops = 0;

  const connect = (): void => {
    retry = undefined;
    if (!running) return;
    connects++;
    lastData = o.clock.mono();
    gotData = false;
    let mine: Session | undefined;
    const alive = () => running && session === mine;
    const data = (): void => {
      lastData = o.clock.mono();
      gotData = true;
      if (!up) {
        up = true;
        failures = 0;
        o.onUp();
      }
    };
    mine = o.open({
      frame(buf, w, h) {
        if (!alive()) return;
        data();
        o.onFrame?.(buf, w, h);
      },
      pcm(chunk) {
        if (!alive()) return;
        data();
        o.onPcm?.(chunk);
      },
      end(fault) {
        if (session === mine) session = undefined;
        if (!running) return;
        drops++;
        up = false;
        o.onDown(fault);
        const delay = backoffDelay(failures++, o.backoff.minMs, o.backoff.maxMs);
        o.log.debug({ reason: fault.reason, err: fault.message, retryMs: delay }, 'stream down');
        retry = setTimeout(connect, delay);
      },
    });
    // end() may already have run (a spawn that failed at once).
    if (running && retry === undefined) session = mine;
  };

  const checkStall = (): void => {
    if (!session || o.clock.mono() - lastData < o.stallMs + (gotData ? 0 : o.startMs)) return;
    o.log.debug({ stallMs: o.stallMs, pid: session.pid }, 'stream stalled: killing the session');
    session.kill({ reason: 'stalled', message: `no data for ${Math.round((o.clock.mono() - lastData) / 1000)} s` });
  };

  return {
    start(): void {
      if (running) return;
      running = true;
      up = false;
      failures = 0;
      watchdog = setInterval(checkStall, Math.max(50, Math.min(1000, Math.floor(o.stallMs / 4))));
      connect();
    },
    /** Kills the session and waits for it to end (bounded by the caller). */
    async stop(): Promise<void> {
      running = false;
      clearTimeout(retry);
      clearInterval(watchdog);
      retry = undefined;
      const s = session;
      session = undefined;
      up = false;
      if (s) {
        s.kill();
        await s.done;
      }
    },
    stats: (): StreamStats => ({ connects, drops, up, ...(session?.pid !== undefined && { pid: session.pid }) }),
  };
}

export type Stream = ReturnType<typeof createStream>;
