// `wayside watch [device…]`: live readings and events in the terminal. Three sources, tried in
// this order:
//   1. an agent answering at --url (or at the config's http.host:http.port) with the status
//      page on and a --user: its /status/events stream (values, states, events), logged in
//      with the password from WAYSIDE_PASSWORD or asked on the terminal;
//   2. an agent answering there without a login: its /healthz every 2 s (device states and
//      errors; values need the status page);
//   3. no agent answering and a --config: the config's devices started here, standalone (no
//      uplink, no HTTP server, state in a temporary directory: the agent's own stays untouched).
// On a terminal the picture is redrawn in place (ANSI home + clear, at most twice a second);
// otherwise (a pipe, a file, a test) every change is one appended line.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startAgent } from '../runtime/agent.ts';
import { CliUsageError } from '../runtime/cli.ts';
import { parseDuration, readConfig, type DevicesCheck, type WaysideConfig } from '../runtime/config/index.ts';
import type { DriverRegistry } from '../runtime/drivers.ts';
import type { AgentHealth } from '../runtime/health.ts';
import { createLog } from '../runtime/log.ts';
import type { Service } from '../runtime/service.ts';
import type { DeviceHealth, Reading, WaysideEvent } from '../runtime/types.ts';
import { STATUS_PATH } from './config.ts';
import type { Delta, EventView, PointValue, View } from './live.ts';

export const WATCH_USAGE = `  wayside watch [device...] [--config <file>] [--url http://host:port] [--user <name>] [--for 30s]
                                  live readings and events in the terminal: from the running agent's
                                  status page (password from WAYSIDE_PASSWORD or asked), else its
                                  /healthz, else standalone from the config's devices (docs/technician.md)
`;

export interface WatchDeps {
  /** The product's registry and services (main.ts productRegistry). */
  product(): { registry: DriverRegistry; services(config: WaysideConfig): Service[] };
  checks?: DevicesCheck[];
  out?: NodeJS.WriteStream | { write(s: string): unknown; isTTY?: boolean };
  err?: { write(s: string): unknown };
  env?: NodeJS.ProcessEnv;
}

interface DeviceLine {
  driver?: string;
  state?: string;
  lastError?: string;
  points: Map<string, PointValue>;
}

/** What is on screen: devices with their last values, recent events. */
function createScreen(out: NonNullable<WatchDeps['out']>, only: Set<string>, title: string) {
  const tty = !!out.isTTY;
  const devices = new Map<string, DeviceLine>();
  const events: EventView[] = [];
  let source = '';
  let timer: NodeJS.Timeout | undefined;
  const want = (d: string | undefined) => only.size === 0 || (d !== undefined && only.has(d));
  const dev = (id: string) => {
    let d = devices.get(id);
    if (!d) devices.set(id, (d = { points: new Map() }));
    return d;
  };
  const t = (ts: number) => new Date(ts).toISOString();
  const fmt = (v: PointValue) => `${typeof v[0] === 'number' ? Number(v[0].toPrecision(7)) : v[0]}${v[1] ? ` ${v[1]}` : ''}${v[2] !== 'good' ? ` (${v[2]})` : ''}`;
  const line = (s: string) => void out.write(s + '\n');

  const draw = () => {
    timer = undefined;
    const rows = [`${title} · ${source} · ${new Date().toLocaleTimeString()} · Ctrl-C to quit`, ''];
    for (const [id, d] of [...devices].sort(([a], [b]) => a.localeCompare(b))) {
      if (!want(id)) continue;
      rows.push(`${id}  ${(d.state ?? '?').toUpperCase()}${d.driver ? `  (${d.driver})` : ''}${d.lastError && d.state !== 'online' ? `  ${d.lastError}` : ''}`);
      for (const [p, v] of [...d.points].sort(([a], [b]) => a.localeCompare(b))) rows.push(`    ${p.padEnd(24)} ${fmt(v).padEnd(20)} ${Math.max(0, Math.round((Date.now() - v[3]) / 1000))} s ago`);
    }
    if (events.length) rows.push('', 'recent events:', ...events.slice(0, 8).map((e) => `  ${t(e.ts)} ${e.type}${e.state ? ` ${e.state}` : ''} ${e.device ?? ''}${e.text ? `: ${e.text}` : ''}`));
    out.write(`\x1b[H\x1b[2J${rows.join('\n')}\n`);
  };
  const changed = () => {
    if (tty && !timer) timer = setTimeout(draw, 500);
  };
  // The ages ("3 s ago") move even when nothing else does.
  const tick = tty ? setInterval(changed, 1000) : undefined;
  tick?.unref();

  return {
    source(s: string) {
      if (s === source) return;
      source = s;
      if (!tty) line(`# ${title}: ${s}`);
      changed();
    },
    state(id: string, h: { driver?: string; state?: string; lastError?: string }) {
      const d = dev(id);
      const was = d.state;
      d.driver = h.driver ?? d.driver;
      d.state = h.state;
      d.lastError = h.lastError;
      if (was !== h.state) {
        if (!tty && want(id)) line(`${t(Date.now())} ${id} state ${h.state}${h.lastError && h.state !== 'online' ? ` (${h.lastError})` : ''}`);
        changed();
      }
    },
    reading(device: string, point: string, v: PointValue) {
      dev(device).points.set(point, v);
      if (!want(device)) return;
      if (!tty) line(`${t(v[3])} ${device} ${point} = ${fmt(v)}`);
      changed();
    },
    event(e: EventView) {
      if (events.some((x) => x.id === e.id)) return;
      events.unshift(e);
      events.length = Math.min(events.length, 30);
      if (!want(e.device)) return;
      if (!tty) line(`${t(e.ts)} event ${e.type}${e.state ? ` ${e.state}` : ''}${e.device ? ` ${e.device}${e.point ? `/${e.point}` : ''}` : ''} ${e.severity}${e.text ? `: ${e.text}` : ''}`);
      changed();
    },
    known: () => [...devices.keys()],
    stop() {
      clearTimeout(timer);
      clearInterval(tick);
    },
  };
}
type Screen = ReturnType<typeof createScreen>;

export function createWatchVerb(deps: WatchDeps): { usage: string; run(argv: string[]): Promise<number> } {
  return { usage: WATCH_USAGE, run: (argv) => watch(argv, deps) };
}

async function watch(argv: string[], deps: WatchDeps): Promise<number> {
  const out = deps.out ?? process.stdout;
  const err = deps.err ?? process.stderr;
  const env = deps.env ?? process.env;
  let args;
  try {
    args = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { config: { type: 'string', short: 'c' }, url: { type: 'string' }, user: { type: 'string', short: 'u' }, for: { type: 'string' } },
    });
  } catch (e) {
    throw new CliUsageError(`watch: ${String((e as Error).message).split(/\. /)[0]}`);
  }
  const { values, positionals } = args;
  if (!values.config && !values.url) throw new CliUsageError('watch: give --config <file> (standalone, or the agent it configures) or --url http://host:port');
  let forMs: number | undefined;
  if (values.for !== undefined) {
    try {
      forMs = parseDuration(/^\d+(\.\d+)?$/.test(values.for) ? Number(values.for) : values.for);
    } catch {
      throw new CliUsageError(`watch: --for: expected a duration like "30s" or "5m", got ${JSON.stringify(values.for)}`);
    }
  }

  let config: WaysideConfig | undefined;
  let product: ReturnType<WatchDeps['product']> | undefined;
  if (values.config) {
    product = deps.product();
    config = readConfig(values.config, product.registry, { checks: deps.checks }).config;
  }
  let base = values.url?.replace(/\/+$/, '');
  if (base && !/^https?:\/\/[^/]+$/.test(base)) throw new CliUsageError(`watch: --url: expected http://host:port, got ${JSON.stringify(values.url)}`);
  if (!base && config?.http.enabled) base = `http://${localHost(config.http.host)}:${config.http.port}`;

  const only = new Set(positionals);
  const screen = createScreen(out, only, config ? `${config.gateway.id}` : (base ?? 'wayside'));
  const ctl = new AbortController();
  const stop = () => ctl.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const timer = forMs !== undefined ? setTimeout(stop, forMs) : undefined;
  try {
    const health = base ? await getJson<AgentHealth>(`${base}/healthz`, 1500) : undefined;
    if (health) {
      checkDevices(only, health.devices.map((d) => d.device), err);
      const user = values.user ?? env.WAYSIDE_USER;
      if (user) {
        const password = env.WAYSIDE_PASSWORD ?? (await askPassword(`password for ${user} at ${base}${STATUS_PATH}: `));
        if (password === undefined) {
          err.write('wayside: watch: no password: set WAYSIDE_PASSWORD or run on a terminal\n');
          return 2;
        }
        const r = await followStream(base!, user, password, screen, ctl.signal, err);
        if (r !== 'no_page') return r;
        err.write(`wayside: watch: the agent at ${base} has no status page (status.enabled: false); showing /healthz (states, no values)\n`);
      }
      return await pollHealth(base!, screen, ctl.signal);
    }
    if (values.url) {
      err.write(`wayside: watch: no agent answers at ${base}\n`);
      return 1;
    }
    checkDevices(only, config!.devices.filter((d) => d.enabled).map((d) => d.id), err);
    return await standalone(values.config!, config!, product!, screen, ctl.signal);
  } finally {
    clearTimeout(timer);
    screen.stop();
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

function localHost(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}

function checkDevices(only: Set<string>, known: string[], err: { write(s: string): unknown }): void {
  const unknown = [...only].filter((d) => !known.includes(d));
  if (unknown.length) throw new CliUsageError(`watch: no device ${unknown.map((d) => `"${d}"`).join(', ')} (devices: ${known.join(', ') || 'none'})`);
  void err;
}

async function getJson<T>(url: string, timeoutMs: number): Promise<T | undefined> {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    if (!r.ok) return undefined;
    return (await r.json()) as T;
  } catch {
    return undefined;
  }
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
  });

/** Logs in and follows /status/events until stopped; reconnects when the agent restarts. */
async function followStream(base: string, user: string, password: string, screen: Screen, signal: AbortSignal, err: { write(s: string): unknown }): Promise<number | 'no_page'> {
  let cookie: string | undefined;
  while (!signal.aborted) {
    if (!cookie) {
      let r: Response;
      try {
        r = await fetch(`${base}${STATUS_PATH}/login`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' }, body: JSON.stringify({ username: user, password }), signal });
      } catch {
        if (signal.aborted) break;
        screen.source(`${base}: not answering, retrying`);
        await sleep(2000, signal);
        continue;
      }
      if (r.status === 404) return 'no_page';
      if (r.status === 401 || r.status === 429) {
        err.write(`wayside: watch: login refused at ${base}${STATUS_PATH}: ${r.status === 401 ? 'wrong user name or password' : 'too many failed logins from this address; wait 10 minutes'}\n`);
        return 1;
      }
      if (!r.ok) {
        err.write(`wayside: watch: login at ${base}${STATUS_PATH} answered HTTP ${r.status}\n`);
        return 1;
      }
      cookie = (r.headers.get('set-cookie') ?? '').split(';')[0];
    }
    let res: Response;
    try {
      res = await fetch(`${base}${STATUS_PATH}/events`, { headers: { cookie, accept: 'text/event-stream' }, signal });
    } catch {
      if (signal.aborted) break;
      screen.source(`${base}: not answering, retrying`);
      await sleep(2000, signal);
      continue;
    }
    if (res.status === 401) {
      cookie = undefined; // the session ended (agent restarted, expired): log in again
      continue;
    }
    if (!res.ok || !res.body) {
      await sleep(2000, signal);
      continue;
    }
    screen.source(`${base}${STATUS_PATH} (live)`);
    try {
      await readEvents(res.body, (event, data) => {
        if (event === 'view') {
          const v = data as View;
          for (const d of v.head.devices) screen.state(d.id, d);
          for (const [d, pts] of Object.entries(v.points)) for (const [p, val] of Object.entries(pts)) screen.reading(d, p, val);
          for (const e of [...v.events].reverse()) screen.event(e);
        } else if (event === 'delta') {
          const d = data as Delta;
          for (const dv of d.head?.devices ?? []) screen.state(dv.id, dv);
          for (const [dev, p, ...val] of d.readings ?? []) screen.reading(dev, p, val as PointValue);
          for (const e of d.events ?? []) screen.event(e);
        }
      });
    } catch {
      // the stream broke (agent stopped): reconnect below
    }
    if (!signal.aborted) {
      screen.source(`${base}: stream ended, reconnecting`);
      await sleep(2000, signal);
    }
  }
  return 0;
}

/** Parses a text/event-stream body, calling `on` per event with its parsed JSON data. */
async function readEvents(body: ReadableStream<Uint8Array>, on: (event: string, data: unknown) => void): Promise<void> {
  const dec = new TextDecoder();
  let buf = '';
  for await (const chunk of body) {
    buf += dec.decode(chunk, { stream: true });
    let at;
    while ((at = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, at);
      buf = buf.slice(at + 2);
      let event = 'message';
      const data: string[] = [];
      for (const l of block.split('\n')) {
        if (l.startsWith('event:')) event = l.slice(6).trim();
        else if (l.startsWith('data:')) data.push(l.slice(5).trimStart());
      }
      if (data.length) on(event, JSON.parse(data.join('\n')));
    }
  }
}

/** Device states from /healthz every 2 s (no values: those need the status page). */
async function pollHealth(base: string, screen: Screen, signal: AbortSignal): Promise<number> {
  screen.source(`${base}/healthz (states only; values need the status page and --user)`);
  while (!signal.aborted) {
    const h = await getJson<AgentHealth>(`${base}/healthz`, 1500);
    if (!h) screen.source(`${base}: not answering, retrying`);
    else {
      screen.source(`${base}/healthz (states only; values need the status page and --user)`);
      for (const d of h.devices as DeviceHealth[]) screen.state(d.device, d);
    }
    await sleep(2000, signal);
  }
  return 0;
}

/** The config's devices started here, with no uplink, no HTTP server and a throwaway state directory. */
async function standalone(file: string, config: WaysideConfig, product: ReturnType<WatchDeps['product']>, screen: Screen, signal: AbortSignal): Promise<number> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'wayside-watch-'));
  const cfg: WaysideConfig = {
    ...config,
    gateway: { ...config.gateway, stateDir: dir },
    outbox: { ...config.outbox, path: path.join(dir, 'outbox.db') },
    http: { ...config.http, enabled: false },
    uplink: { ...config.uplink, enabled: false } as WaysideConfig['uplink'],
  };
  // Only what reads the devices: the models service (cameras) and the devices service.
  const services = product.services(cfg).filter((s) => s.name === 'models' || s.name === 'devices');
  const log = createLog({ level: 'warn', fd: 2 });
  screen.source(`standalone from ${file} (no agent answering)`);
  const agent = await startAgent({ config: cfg, services, log });
  try {
    agent.bus.on('reading', 'watch', (r: Reading) => screen.reading(r.device, r.point, [r.value, r.unit ?? null, r.quality, r.ts]));
    agent.bus.on('event', 'watch', (e: WaysideEvent) => {
      const text = [e.data?.message, e.data?.error].find((x): x is string => typeof x === 'string');
      screen.event({ id: e.id, ts: e.ts, type: e.type, severity: e.severity, device: e.device, point: e.point, state: e.state, ...(text && { text }) });
    });
    while (!signal.aborted) {
      for (const d of agent.health().devices) screen.state(d.device, d);
      await sleep(1000, signal);
    }
  } finally {
    await agent.stop('watch ended');
    rmSync(dir, { recursive: true, force: true });
  }
  return 0;
}

/** Asks for a password on the terminal without echo; undefined when stdin is not a terminal. */
async function askPassword(prompt: string): Promise<string | undefined> {
  const stdin = process.stdin;
  if (!stdin.isTTY) return undefined;
  process.stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.resume();
  let pw = '';
  try {
    return await new Promise<string | undefined>((resolve) => {
      const onData = (b: Buffer) => {
        for (const ch of b.toString('utf8')) {
          if (ch === '\r' || ch === '\n') return (stdin.off('data', onData), resolve(pw));
          if (ch === '\u0003') return (stdin.off('data', onData), resolve(undefined));
          if (ch === '\u007f') pw = pw.slice(0, -1);
          else pw += ch;
        }
      };
      stdin.on('data', onData);
    });
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
    process.stderr.write('\n');
  }
}
