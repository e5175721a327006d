// Is an agent already running this config? Doctor must not open what a running agent owns
// (serial ports) nor log in with its client id; when the agent serves /healthz, doctor reads the
// state of its devices, uplink and flows from there instead.
import fs from 'node:fs';
import type * as HttpModule from 'node:http';

// Not `import http from 'node:http'`: an ESM import of node:http builds its namespace, whose lazy
// getters load undici and http2 (~15 MB of RSS for a server that needs neither; docs/footprint.md).
const http: typeof HttpModule = process.getBuiltinModule('node:http');
import path from 'node:path';
import type { WaysideConfig } from '../config/index.ts';
import { isWaysideAgent } from '../ports.ts';

/** The parts of /healthz doctor reads (runtime/health.ts AgentHealth). */
export interface AgentHealthView {
  gateway: string;
  status: 'ok' | 'degraded';
  problems: string[];
  uptimeS: number;
  clock?: { trusted: boolean };
  outbox?: { depth: number; oldestAgeMs: number; dropped: number; setAside: number; diskFull: boolean };
  uplink?: { enabled: boolean; connected: boolean; since?: number; lastError?: string };
  devices?: { device: string; driver: string; state: string; lastReadingTs?: number; errors: number; readings: number; lastError?: string; errorsByKind?: Record<string, number> }[];
  flows?: { state: string; lastError?: string; flows?: number; nodes?: number; nodeErrors?: number; unknownTypes?: string[] };
}

export interface RunningAgent {
  /** Processes running `wayside run` with this very config file (may be empty when only /healthz answered). */
  pids: number[];
  /** The /healthz URL tried, when http is enabled. */
  url?: string;
  /** Its health, when /healthz answered for this gateway. */
  health?: AgentHealthView;
  /** Why its health could not be read (http disabled, no answer, another gateway answered). */
  healthProblem?: string;
}

/**
 * Processes running `wayside run --config <file>` whose file is this one (the --config argument
 * resolved against the process's working directory). Processes of other users whose
 * /proc entries cannot be read are not seen.
 */
export function agentPids(configFile: string): number[] {
  const want = realpath(configFile);
  if (!want) return [];
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return [];
  }
  const out: number[] = [];
  for (const p of entries) {
    const pid = Number(p);
    if (pid === process.pid) continue;
    let args: string[];
    try {
      args = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').filter(Boolean);
    } catch {
      continue;
    }
    if (!isWaysideAgent({ pid, cmdline: args.join(' ') })) continue;
    const file = configArg(args);
    if (file === undefined) continue;
    let cwd = '/';
    try {
      cwd = fs.readlinkSync(`/proc/${p}/cwd`);
    } catch {
      // another user's process: a relative path cannot be resolved, an absolute one still can
    }
    if (realpath(path.resolve(cwd, file)) === want) out.push(pid);
  }
  return out;
}

/** The value of `--config F`, `--config=F`, `-c F` in an argument list. */
export function configArg(args: string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if ((a === '--config' || a === '-c') && i + 1 < args.length) return args[i + 1];
    if (a.startsWith('--config=')) return a.slice('--config='.length);
  }
  return undefined;
}

function realpath(p: string): string | undefined {
  try {
    return fs.realpathSync(p);
  } catch {
    return undefined;
  }
}

/** Where a client on this machine reaches the agent's HTTP server. */
export function healthUrl(cfg: WaysideConfig['http']): string {
  const host = cfg.host === '0.0.0.0' || cfg.host === '' ? '127.0.0.1' : cfg.host === '::' ? '::1' : cfg.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${cfg.port}/healthz`;
}

/** GET url as JSON within timeoutMs; rejects with a one-line reason. */
export function getJson(url: string, timeoutMs: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        if (res.statusCode !== 200) return reject(new Error(`HTTP ${res.statusCode}`));
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        } catch {
          reject(new Error('the answer is not JSON'));
        }
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs / 1000} s`)));
    req.on('error', (err: NodeJS.ErrnoException) => reject(new Error(err.code === 'ECONNREFUSED' ? 'connection refused (nothing listens)' : err.message)));
  });
}

/** Finds the agent of this config: its processes, and its health when it serves /healthz. */
export async function findAgent(configFile: string, config: WaysideConfig, timeoutMs: number): Promise<RunningAgent> {
  const pids = agentPids(configFile);
  if (!config.http.enabled) return { pids, healthProblem: 'http.enabled is false, so the agent serves no /healthz' };
  const url = healthUrl(config.http);
  try {
    const body = (await getJson(url, timeoutMs)) as Partial<AgentHealthView> | undefined;
    if (body?.gateway !== config.gateway.id) {
      return { pids, url, healthProblem: `${url} answers for gateway ${JSON.stringify(body?.gateway)}, not ${config.gateway.id} (another agent holds the port)` };
    }
    return { pids, url, health: body as AgentHealthView };
  } catch (err) {
    return { pids, url, healthProblem: `${url}: ${(err as Error).message}` };
  }
}
