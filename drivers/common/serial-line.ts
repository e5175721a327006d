// A serial port that survives being unplugged: opened on start, reopened with exponential
// backoff (and jitter) whenever it closes or fails to open, until stopped. Drivers of serial
// sensors, Modbus RTU and DL/T 645 meters share it.
import { stat } from 'node:fs';
import { SerialPort } from 'serialport';
import type { Log } from '../../runtime/types.ts';

export interface SerialLineOptions {
  path: string;
  baudRate: number;
  dataBits?: 5 | 6 | 7 | 8;
  parity?: 'none' | 'even' | 'odd';
  stopBits?: 1 | 2;
  /** Backoff between reopen attempts (default 500 ms .. 30 s). */
  reopen?: { minMs: number; maxMs: number };
}

export interface SerialLineDeps {
  log: Log;
  onData: (chunk: Buffer) => void;
  onOpen?: () => void;
  /** The port closed or failed to open; `err` says why. */
  onDown?: (err: Error) => void;
}

export interface SerialLine {
  start(): void;
  stop(): Promise<void>;
  write(data: Buffer): Promise<void>;
  isOpen(): boolean;
  /** Times the port was (re)opened. */
  opens(): number;
}

/**
 * How often an open port's device node is checked. An unplugged USB adapter's node vanishes;
 * the port's own close or read error usually says so first, but not always (a pty whose master
 * went away can stay silent), and a port that is never seen closing is never reopened.
 */
const PRESENCE_MS = 1000;

export function createSerialLine(opts: SerialLineOptions, deps: SerialLineDeps): SerialLine {
  const log = deps.log.child({ port: opts.path });
  const { minMs, maxMs } = opts.reopen ?? { minMs: 500, maxMs: 30_000 };
  let port: SerialPort | undefined;
  let stopped = true;
  let attempt = 0;
  let opens = 0;
  let timer: NodeJS.Timeout | undefined;
  let presence: NodeJS.Timeout | undefined;

  const schedule = (err: Error) => {
    port = undefined;
    clearInterval(presence);
    deps.onDown?.(err);
    if (stopped) return;
    const cap = Math.min(maxMs, minMs * 2 ** Math.min(attempt++, 20));
    const delay = Math.round(minMs + Math.random() * (cap - minMs));
    log.debug({ err: err.message, delayMs: delay }, 'serial port down; reopening later');
    timer = setTimeout(open, delay);
  };

  function open(): void {
    timer = undefined;
    if (stopped) return;
    const p = new SerialPort({
      path: opts.path,
      baudRate: opts.baudRate,
      dataBits: opts.dataBits ?? 8,
      parity: opts.parity ?? 'none',
      stopBits: opts.stopBits ?? 1,
      autoOpen: false,
    });
    p.on('error', (err) => log.debug({ err: err.message }, 'serial port error'));
    p.open((err) => {
      if (err) return schedule(err);
      if (stopped) return void p.close(() => {});
      port = p;
      attempt = 0;
      opens++;
      if (opens > 1) log.info({ opens }, 'serial port reopened');
      p.on('data', (chunk: Buffer) => deps.onData(chunk));
      p.once('close', (e?: Error | null) => {
        if (port === p) schedule(e ?? new Error(`serial port ${opts.path} closed`));
      });
      presence = setInterval(() => {
        stat(opts.path, (err) => {
          if (err?.code !== 'ENOENT' || port !== p) return;
          schedule(new Error(`serial port ${opts.path} vanished (unplugged)`));
          p.close(() => {});
        });
      }, PRESENCE_MS);
      presence.unref();
      deps.onOpen?.();
    });
  }

  return {
    start() {
      if (!stopped) return;
      stopped = false;
      open();
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      clearInterval(presence);
      const p = port;
      port = undefined;
      if (p?.isOpen) await new Promise<void>((r) => p.close(() => r()));
    },
    write(data) {
      const p = port;
      if (!p?.isOpen) return Promise.reject(new Error(`serial port ${opts.path} is not open`));
      return new Promise((resolve, reject) => {
        p.write(data, (err) => (err ? reject(err) : p.drain((e) => (e ? reject(e) : resolve()))));
      });
    },
    isOpen: () => !!port?.isOpen,
    opens: () => opens,
  };
}
