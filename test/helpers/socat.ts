// Virtual serial port pairs with socat: `a` is the agent's side, `b` the simulated device's.
// Killing socat makes both ports vanish (a USB unplug, as the agent sees it); restart()
// creates a new pair at the same paths (the adapter plugged back in).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface PtyPair {
  /** The agent's side (device path in the config). */
  a: string;
  /** The simulator's side. */
  b: string;
  /** Kill socat: both ports disappear. */
  unplug(): Promise<void>;
  /** Start socat again with the same paths. */
  replug(): Promise<void>;
  stop(): Promise<void>;
}

export function socatAvailable(): boolean {
  return ['/usr/bin/socat', '/bin/socat'].some(existsSync);
}

export async function startPtyPair(dir = mkdtempSync(path.join(os.tmpdir(), 'wayside-pty-'))): Promise<PtyPair> {
  if (!socatAvailable()) throw new Error('socat is not installed: run `bash scripts/ensure-system-deps.sh` (Debian package socat)');
  const a = path.join(dir, 'ttyA');
  const b = path.join(dir, 'ttyB');
  let proc: ChildProcess | undefined;

  const start = async () => {
    const p = spawn('socat', [`pty,raw,echo=0,link=${a}`, `pty,raw,echo=0,link=${b}`], { stdio: 'ignore' });
    proc = p;
    const deadline = Date.now() + 5000;
    while (!(existsSync(a) && existsSync(b))) {
      if (p.exitCode !== null) throw new Error(`socat exited with ${p.exitCode}`);
      if (Date.now() > deadline) throw new Error('socat did not create the pty pair within 5 s');
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const kill = async () => {
    const p = proc;
    proc = undefined;
    if (!p || p.exitCode !== null) return;
    // Links first: a serial line reopening through a stale link would land on whatever pty
    // reuses the number (another test's port).
    for (const f of [a, b]) rmSync(f, { force: true });
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await exited;
  };

  await start();
  process.once('exit', () => proc?.kill('SIGKILL'));
  return { a, b, unplug: kill, replug: start, stop: kill };
}
