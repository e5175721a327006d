// The Node-RED settings the agent embeds it with: nothing reaches the network, the editor is
// off unless configured (and then login-only), credentials are encrypted with a key we own,
// and Node-RED's log goes to the agent's pino logger (rate-limited per node).
import { randomBytes } from 'node:crypto';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { ensureDir } from '../runtime/state.ts';
import path from 'node:path';
import type { FlowsConfig } from '../runtime/config/schema.ts';
import type { Log } from '../runtime/types.ts';
import type { WaysideBridge } from './nodes/src/red.ts';

export class FlowsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FlowsError';
  }
}

export const NODES_DIR = path.join(import.meta.dirname, 'nodes');
export const FLOW_FILE = 'flows.json';
/** A function node's synchronous run is stopped after this (an endless loop would stop the agent). */
export const FUNCTION_TIMEOUT_S = 1;

/** cfg.credentialSecret, else a random key made once and kept in <stateDir>/secrets (0600). */
export function credentialSecret(cfg: FlowsConfig, stateDir: string): string {
  if (cfg.credentialSecret) return cfg.credentialSecret;
  const dir = path.join(stateDir, 'secrets');
  const file = path.join(dir, 'flows-credential-secret');
  const read = () => {
    const s = readFileSync(file, 'utf8').trim();
    if (s.length < 32) throw new FlowsError(`${file}: expected a key of at least 32 characters, found ${s.length}; delete the file to make a new one (flow credentials encrypted with the old key are lost)`);
    return s;
  };
  try {
    return read();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  ensureDir(dir);
  try {
    writeFileSync(file, randomBytes(32).toString('hex') + '\n', { mode: 0o600, flag: 'wx' });
    chmodSync(file, 0o600); // the umask may have narrowed it further; never wider
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  return read();
}

export interface LogTracker {
  nodeErrors: number;
  runtimeErrors: number;
  lastError?: string;
  suppressed: number;
  /** Per failing node: how often and its latest error, so one node's error loop does not hide another's error. */
  byNode?: Map<string, { count: number; lastError: string }>;
  errorLoopDrops?: number;
}

const MAX_NODES_TRACKED = 50;

/** Count an error of node `id` (`where` names it for humans). */
export function noteNodeError(tracker: LogTracker, id: string, text: string): void {
  tracker.nodeErrors++;
  tracker.lastError = text;
  const byNode = (tracker.byNode ??= new Map());
  const e = byNode.get(id);
  if (e) {
    e.count++;
    e.lastError = text;
  } else if (byNode.size < MAX_NODES_TRACKED) {
    byNode.set(id, { count: 1, lastError: text });
  }
}

interface NodeRedLogMsg {
  level: number;
  msg?: unknown;
  type?: string;
  id?: string;
  name?: string;
  z?: string;
  event?: string;
  username?: string;
  user?: { username?: string };
  ip?: string;
  path?: string;
}

const LEVELS: Record<number, 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace'> = { 10: 'fatal', 20: 'error', 30: 'warn', 40: 'info', 50: 'debug', 60: 'trace', 98: 'info', 99: 'debug' };
const LOG_WINDOW_MS = 10_000;
const LOG_PER_WINDOW = 20;

/**
 * Node-RED log messages -> pino, at most 20 per node per 10 s (a node in an error loop must not
 * fill the disk). Audit lines (logins, deploys) are never rate-limited and carry event and user.
 */
export function createLogSink(log: Log, tracker: LogTracker, mono: () => number): (m: NodeRedLogMsg) => void {
  const windows = new Map<string, { start: number; n: number; dropped: number }>();
  return (m) => {
    if (m.level === 98) return audit(log, m);
    const text = logText(m.msg);
    if (m.level <= 20) {
      const where = m.id ? `${m.type ?? 'node'} ${m.id}${m.name ? ` "${m.name}"` : ''}: ` : '';
      if (m.id) noteNodeError(tracker, m.id, (where + text).slice(0, 500));
      else {
        tracker.runtimeErrors++;
        tracker.lastError = text.slice(0, 500);
      }
    }
    const key = m.id ?? 'runtime';
    const now = mono();
    let w = windows.get(key);
    if (!w || now - w.start >= LOG_WINDOW_MS) {
      if (w && w.dropped > 0) log.warn({ node: m.id, suppressed: w.dropped }, 'Node-RED log lines suppressed (more than 20 in 10 s)');
      if (windows.size > 10_000) windows.clear();
      w = { start: now, n: 0, dropped: 0 };
      windows.set(key, w);
    }
    if (++w.n > LOG_PER_WINDOW) {
      w.dropped++;
      tracker.suppressed++;
      return;
    }
    const fields: Record<string, unknown> = {};
    if (m.id) Object.assign(fields, { node: m.id, nodeType: m.type, nodeName: m.name, flow: m.z });
    if (m.msg instanceof Error && m.level <= 30) fields.err = m.msg;
    log[LEVELS[m.level] ?? 'info'](fields, text);
  };
}

/** One audit line: the event, who (the username also of a failed login) and from where. Failures at warn. */
function audit(log: Log, m: NodeRedLogMsg): void {
  const event = m.event ?? 'unknown';
  const fields: Record<string, unknown> = { audit: event, username: m.username ?? m.user?.username };
  if (m.ip) fields.ip = m.ip;
  if (m.path) fields.path = m.path;
  const text = m.msg === undefined ? `audit ${event}` : `audit ${event}: ${logText(m.msg)}`;
  if (/fail|invalid/.test(event)) log.warn(fields, text);
  else log.info(fields, text);
}

function logText(msg: unknown): string {
  if (msg === undefined || msg === null) return '';
  if (typeof msg === 'string') return msg.trim();
  if (msg instanceof Error) return msg.message;
  if (typeof msg === 'object' && msg !== null && typeof (msg as { message?: unknown }).message === 'string') return (msg as { message: string }).message;
  try {
    return JSON.stringify(msg) ?? String(msg);
  } catch {
    return String(msg);
  }
}

// Node-RED filters by level before our sink sees a line; errors and warnings must always reach
// it (they are counted in health), pino then filters what gets written.
const RED_LEVEL: Record<string, string> = { info: 'info', debug: 'debug', trace: 'trace' };

export function buildSettings(
  cfg: FlowsConfig,
  opts: { userDir: string; secret: string; log: Log; sink: (m: NodeRedLogMsg) => void; bridge: WaysideBridge; adminMiddleware?: unknown },
): Record<string, unknown> {
  const editor = cfg.editor.enabled;
  return {
    userDir: opts.userDir,
    flowFile: FLOW_FILE,
    flowFilePretty: true,
    credentialSecret: opts.secret,
    nodesDir: [NODES_DIR],
    // Editor off: no admin API at all (no routes, no websocket).
    httpAdminRoot: editor ? cfg.editor.path : false,
    disableEditor: !editor,
    httpNodeRoot: cfg.httpNodeRoot,
    ...(editor
      ? {
          // Per-address login lockout in front of Node-RED's global one (flows/login.ts).
          ...(opts.adminMiddleware ? { httpAdminMiddleware: opts.adminMiddleware } : {}),
          adminAuth: {
            type: 'credentials',
            // No `default` user: nobody gets in without logging in.
            users: cfg.editor.users.map((u) => ({ username: u.username, password: u.password, permissions: u.permissions })),
          },
        }
      : {}),
    logging: {
      wayside: { level: RED_LEVEL[opts.log.level] ?? 'warn', metrics: false, audit: editor, handler: () => opts.sink },
    },
    // Nothing phones home: no telemetry or update check, no palette/npm installs, no catalogues.
    telemetry: { enabled: false, updateNotification: false },
    diagnostics: { enabled: false, ui: false },
    runtimeState: { enabled: false, ui: false },
    externalModules: { autoInstall: false, palette: { allowInstall: false, allowUpload: false }, modules: { allowInstall: false } },
    functionExternalModules: false,
    globalFunctionTimeout: FUNCTION_TIMEOUT_S,
    functionGlobalContext: {},
    exportGlobalContextKeys: false,
    editorTheme: {
      projects: { enabled: false },
      palette: { catalogues: [] },
      tours: false,
      multiplayer: { enabled: false },
      page: { title: 'Wayside flows' },
      header: { title: 'Wayside flows' },
    },
    // Read by the wayside nodes through RED.settings.wayside.
    wayside: opts.bridge,
  };
}
