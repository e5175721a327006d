// Runs the real agent as a child process (bin/wayside run), for crash and restart tests, and
// one-shot CLI commands (bin/wayside <args>) for the CLI's own tests.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '../..');

/** Runs `bin/wayside <args>` to its end (SIGKILL past `timeout`): exit code, stdout, stderr, duration. */
export function runWayside(args: string[], timeout = 30_000): Promise<{ code: number | null; out: string; err: string; ms: number }> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    execFile(path.join(root, 'bin/wayside'), args, { timeout, killSignal: 'SIGKILL' }, (error, out, err) => {
      const code = error ? ((error as { code?: unknown }).code as number | null) ?? null : 0;
      resolve({ code: typeof code === 'number' ? code : null, out, err, ms: Date.now() - t0 });
    });
  });
}

export interface AgentProcess {
  proc: ChildProcess;
  /** SIGKILL: no goodbye, no flush. */
  kill9(): Promise<void>;
  /** SIGTERM; resolves with the exit code and how long the stop took. */
  term(): Promise<{ code: number | null; ms: number }>;
  stderr(): string;
}

export function spawnAgent(config: string, opts: { journal?: string; env?: NodeJS.ProcessEnv } = {}): AgentProcess {
  const proc = spawn(path.join(root, 'bin/wayside'), ['run', '--config', config], {
    env: { ...process.env, ...opts.env, ...(opts.journal ? { WAYSIDE_DURABLE_JOURNAL: opts.journal } : {}) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  return {
    proc,
    async kill9() {
      proc.kill('SIGKILL');
      await exited;
    },
    async term() {
      const t0 = Date.now();
      proc.kill('SIGTERM');
      const code = await exited;
      return { code, ms: Date.now() - t0 };
    },
    stderr: () => err,
  };
}

/** Ids the agent reported durable (one per line in the journal). */
export function journalIds(file: string): string[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').split('\n').filter((l) => l.length === 26);
}
