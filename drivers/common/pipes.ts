// Byte pipes under a bus (bus.ts): a TCP socket that reconnects on demand after loss, and the
// reopening serial line (serial-line.ts). A pipe moves bytes and says when it is down; framing
// and timeouts live with each protocol (modbus/link.ts, dlt645/shared-port.ts).
import net from 'node:net';
import type { Log } from '../../runtime/types.ts';
import { createSerialLine } from './serial-line.ts';

export interface Pipe {
  /** Resolves when bytes can be written; rejects with the reason it cannot (port gone, refused). */
  ensureOpen(timeoutMs: number): Promise<void>;
  write(data: Buffer): Promise<void>;
  /** Drop the connection (a corrupt stream); the next ensureOpen reconnects. */
  reset(reason: string): void;
  close(): Promise<void>;
  /** Times the pipe was (re)connected. */
  opens(): number;
}

export interface PipeDeps {
  log: Log;
  onData(chunk: Buffer): void;
  onDown(err: Error): void;
}

export function createTcpPipe(opts: { host: string; port: number }, deps: PipeDeps): Pipe {
  const where = `${opts.host}:${opts.port}`;
  let socket: net.Socket | undefined;
  let connecting: Promise<void> | undefined;
  let opens = 0;
  let closed = false;

  const connect = (timeoutMs: number): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      const s = net.createConnection({ host: opts.host, port: opts.port });
      const timer = setTimeout(() => {
        s.destroy();
        reject(new Error(`connect to ${where} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      s.once('connect', () => {
        clearTimeout(timer);
        if (closed) {
          s.destroy();
          return reject(new Error(`connection to ${where} closed`));
        }
        s.setNoDelay(true);
        s.setKeepAlive(true, 10_000);
        socket = s;
        opens++;
        if (opens > 1) deps.log.info({ where, opens }, 'tcp reconnected');
        resolve();
      });
      s.on('data', (c: Buffer) => {
        if (socket === s) deps.onData(c);
      });
      s.on('error', (err) => {
        clearTimeout(timer);
        if (socket !== s) reject(new Error(`connect to ${where} failed: ${err.message}`));
      });
      s.on('close', () => {
        clearTimeout(timer);
        if (socket === s) {
          socket = undefined;
          deps.onDown(new Error(`connection to ${where} lost`));
        }
      });
    });

  return {
    async ensureOpen(timeoutMs) {
      if (closed) throw new Error(`connection to ${where} is closed`);
      if (socket && !socket.destroyed) return;
      connecting ??= connect(timeoutMs).finally(() => (connecting = undefined));
      await connecting;
    },
    write(data) {
      const s = socket;
      if (!s || s.destroyed) return Promise.reject(new Error(`not connected to ${where}`));
      return new Promise((resolve, reject) => s.write(data, (err) => (err ? reject(err) : resolve())));
    },
    reset(reason) {
      const s = socket;
      if (!s) return;
      deps.log.warn({ where, reason }, 'tcp connection reset');
      s.destroy();
    },
    async close() {
      closed = true;
      const s = socket;
      socket = undefined;
      s?.destroy();
    },
    opens: () => opens,
  };
}

export interface SerialPipeOptions {
  path: string;
  baudRate: number;
  dataBits: 7 | 8;
  parity: 'none' | 'even' | 'odd';
  stopBits: 1 | 2;
  reopen?: { minMs: number; maxMs: number };
}

/** The serial line starts opening at once and reopens by itself after an unplug. */
export function createSerialPipe(opts: SerialPipeOptions, deps: PipeDeps): Pipe {
  const waiters = new Set<() => void>();
  const line = createSerialLine(
    { ...opts, reopen: opts.reopen ?? { minMs: 200, maxMs: 5000 } },
    {
      log: deps.log,
      onData: deps.onData,
      onDown: deps.onDown,
      onOpen: () => {
        for (const w of waiters) w();
        waiters.clear();
      },
    },
  );
  line.start();
  // Right after start or a replug the line may still be opening: wait for it, up to the timeout.
  const waitOpen = (ms: number) =>
    new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(t);
        waiters.delete(done);
        resolve();
      };
      const t = setTimeout(done, ms);
      waiters.add(done);
    });
  return {
    async ensureOpen(timeoutMs) {
      if (!line.isOpen()) await waitOpen(timeoutMs);
      if (!line.isOpen()) throw new Error(`serial port ${opts.path} is not open (unplugged or busy; reopening in the background)`);
    },
    write: (data) => line.write(data),
    reset() {
      // A serial line has no stream state to lose; each framer resynchronises on its own.
    },
    async close() {
      for (const w of waiters) w();
      await line.stop();
    },
    opens: () => line.opens(),
  };
}
