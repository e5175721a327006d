// Shared by the packaging tests: a free loopback port, polling /healthz, running a bundle's
// launcher as a real agent process, and a config for it derived from the shipped default.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { setPriority } from 'node:os';
import { parseDocument } from 'yaml';

/**
 * Packaging is batch work (esbuild, npm installs, gzip, dpkg-deb, lintian): the test file's
 * process and every child it starts run at nice 10, so the suite's timing-sensitive tests beside
 * it (a Modbus bus's poll slots, the event loop of an agent under test) get the CPU first. A
 * niceness is inherited by children and vitest runs each test file in a process of its own.
 */
export function runAsBatchWork(): void {
  setPriority(10);
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** GET /healthz on 127.0.0.1:port: the parsed body, or undefined while nothing answers. */
export async function healthz(port: number): Promise<Record<string, any> | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(5000) });
    return (await res.json()) as Record<string, any>;
  } catch {
    return undefined;
  }
}

/**
 * The shipped default config (`shipped`), with its state in `stateDir`, HTTP on `httpPort` and
 * the uplink pointed at `uplinkPort` on loopback where nothing listens (so readings queue in
 * the outbox), written to `out`.
 */
export function testConfig(shipped: string, out: string, o: { stateDir: string; httpPort: number; uplinkPort: number }): string {
  const doc = parseDocument(readFileSync(shipped, 'utf8'));
  doc.setIn(['gateway', 'stateDir'], o.stateDir);
  doc.setIn(['http', 'port'], o.httpPort);
  doc.setIn(['uplink', 'url'], `mqtt://127.0.0.1:${o.uplinkPort}`);
  writeFileSync(out, doc.toString());
  return out;
}

export interface Proc {
  proc: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
  /** SIGTERM and the exit code. */
  stop(): Promise<number | null>;
}

export function start(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Proc {
  const proc = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (d: Buffer): void => void (out = (out + d.toString()).slice(-20_000));
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  return {
    proc,
    output: () => out,
    exited,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      return exited;
    },
  };
}

/** Polls /healthz until `pred` holds; the last body or the last state in the error. */
export async function pollHealth(port: number, pred: (h: Record<string, any>) => boolean, ms: number, what: () => string): Promise<Record<string, any>> {
  const end = Date.now() + ms;
  let last: Record<string, any> | undefined;
  while (Date.now() < end) {
    last = await healthz(port);
    if (last && pred(last)) return last;
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`timed out after ${ms} ms waiting for /healthz on ${port}: last ${JSON.stringify(last)?.slice(0, 800)}\n${what()}`);
}

/** Compares two paths segment by segment, bytewise (the order of tar --sort=name). */
export function byPathSegments(a: string, b: string): number {
  const x = a.replace(/\/$/, '').split('/');
  const y = b.replace(/\/$/, '').split('/');
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const c = Buffer.compare(Buffer.from(x[i]), Buffer.from(y[i]));
    if (c) return c;
  }
  return x.length - y.length;
}

/** node -e script (run in a bundle's lib/): loads every native addon the agent uses, prints ok. */
export const LOAD_NATIVES = [
  "const ort = require('onnxruntime-node'); if (typeof ort.InferenceSession?.create !== 'function') throw new Error('onnxruntime-node');",
  "const sharp = require('sharp'); if (!sharp.versions?.vips) throw new Error('sharp');",
  "const { SerialPort } = require('serialport'); require('@serialport/bindings-cpp').autoDetect();",
  "console.log('ok');",
].join('\n');
