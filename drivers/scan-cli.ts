// `wayside scan modbus|dlt645|serial`: the field technician's bus scanners. Each family's scan
// lives with its driver (modbus/scan.ts, dlt645/scan.ts, common/serial-list.ts); this file
// parses flags, refuses a port the running agent owns (unless --force), shows progress on
// stderr (a bar redrawn with \r on a terminal, plain lines otherwise) and prints the results
// and a ready `devices:` snippet on stdout (or one JSON document with --json). Exit codes: 0
// something found, 1 nothing found or the port failed, 2 a usage mistake or a refused port.
import { existsSync } from 'node:fs';
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import { isWaysideAgent, portHolders, type PortHolder } from '../runtime/ports.ts';

export const SCAN_USAGE = `  wayside scan modbus --port <tty> [--baud 9600,19200,38400,115200] [--parity none,even]
              [--ids 1-247] [--timeout <ms>] [--register holding:0] [--json] [--force]
  wayside scan modbus --tcp <host[:port]> [--rtu-over-tcp] [--ids 1-247] [--timeout <ms>] [--json]
  wayside scan dlt645 --port <tty> [--baud 2400] [--parity even] [--timeout <ms>] [--json] [--force]
  wayside scan serial [--all] [--json]
                                  find devices on a bus (read requests only) and print a
                                  ready devices: snippet; list the serial ports
`;

export interface ScanIo {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown; isTTY?: boolean; columns?: number };
  /** Stops a running scan (Ctrl-C); the partial result is printed. */
  signal?: AbortSignal;
  /** Who holds a port open (default: read from /proc). */
  holders?(path: string): PortHolder[];
  /** Roots for `scan serial` (tests). */
  sysfs?: string;
  dev?: string;
}

class UsageError extends Error {}
/** A refusal the operator can act on (the agent owns the port): exit 2. */
class Refused extends Error {}

function args(argv: string[], options: ParseArgsOptionsConfig) {
  try {
    return parseArgs({ args: argv, allowPositionals: true, strict: true, options });
  } catch (err) {
    throw new UsageError(String((err as Error).message).split(/\. /)[0].replace(/\.$/, ''));
  }
}

const list = (text: string, what: string, ok: (s: string) => boolean): string[] => {
  const items = text.split(',').map((s) => s.trim()).filter(Boolean);
  const bad = items.find((s) => !ok(s));
  if (bad !== undefined || !items.length) throw new UsageError(`--${what}: unexpected ${JSON.stringify(bad ?? text)}`);
  return items;
};
const bauds = (text: string, allowed?: number[]) =>
  list(text, 'baud', (s) => /^\d+$/.test(s) && Number(s) >= 300 && Number(s) <= 4_000_000 && (!allowed || allowed.includes(Number(s)))).map(Number);
const parities = (text: string) => list(text, 'parity', (s) => ['none', 'even', 'odd'].includes(s)) as ('none' | 'even' | 'odd')[];
const ms = (text: string | undefined, what = 'timeout'): number | undefined => {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text) || Number(text) < 10 || Number(text) > 60_000) throw new UsageError(`--${what}: expected milliseconds 10-60000, got ${JSON.stringify(text)}`);
  return Number(text);
};

export function duration(msTotal: number): string {
  const s = Math.round(msTotal / 1000);
  if (s < 60) return `${(msTotal / 1000).toFixed(msTotal < 10_000 ? 1 : 0)} s`;
  return s < 3600 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

/** Refuses a serial port the running agent holds; warns about other holders; returns them. */
function checkPort(port: string, force: boolean, io: ScanIo): PortHolder[] {
  if (!existsSync(port)) throw new Error(`${port}: no such port (wayside scan serial lists this machine's serial ports)`);
  const holders = (io.holders ?? portHolders)(port);
  const agent = holders.find(isWaysideAgent);
  if (agent && !force) {
    throw new Refused(`${port} is in use by the running agent (pid ${agent.pid}: ${agent.cmdline}); a scan would steal its replies and it would steal the scan's. Stop the agent first (systemctl stop wayside), or pass --force`);
  }
  for (const h of holders) if (h !== agent || force) io.stderr.write(`wayside scan: warning: ${port} is also open by pid ${h.pid} (${h.cmdline}): replies may go to it\n`);
  return holders;
}

/** A port that would not open while others hold it: say who (their lock keeps the scan out). */
function portFailed(err: Error, held: PortHolder[]): Error {
  if (!held.length) return err;
  return new Error(`${err.message}; it is held open by ${held.map((h) => `pid ${h.pid}`).join(', ')}, whose exclusive lock may keep the scan out: stop it first`);
}

/** Progress on stderr: a bar redrawn in place on a terminal, one line per setting otherwise. */
function progress(io: ScanIo) {
  const tty = !!io.stderr.isTTY;
  let lastDraw = 0;
  let drawn = false;
  return {
    bar(done: number, total: number, text: string, force = false) {
      if (!tty) return;
      const now = Date.now();
      if (!force && now - lastDraw < 100) return;
      lastDraw = now;
      const width = 30;
      const fill = total ? Math.round((done / total) * width) : 0;
      const line = `[${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${done}/${total} ${text}`;
      io.stderr.write(`\r${line.slice(0, (io.stderr.columns ?? 100) - 1)}\x1b[K`);
      drawn = true;
    },
    line(text: string) {
      if (tty) {
        if (drawn) io.stderr.write('\r\x1b[K');
        drawn = false;
      }
      io.stderr.write(text + '\n');
    },
    end() {
      if (tty && drawn) io.stderr.write('\r\x1b[K');
      drawn = false;
    },
  };
}

async function modbus(argv: string[], io: ScanIo): Promise<number> {
  const { values, positionals } = args(argv, {
    port: { type: 'string' }, tcp: { type: 'string' }, 'rtu-over-tcp': { type: 'boolean' },
    baud: { type: 'string' }, parity: { type: 'string' }, ids: { type: 'string' }, timeout: { type: 'string' },
    register: { type: 'string' }, json: { type: 'boolean' }, force: { type: 'boolean' },
  });
  if (positionals.length) throw new UsageError(`scan modbus: unexpected argument "${positionals[0]}"`);
  if (!values.port === !values.tcp) throw new UsageError('scan modbus: give --port <tty> (RTU) or --tcp <host[:port]> (gateway), one of them');
  const m = await import('./modbus/scan.ts');
  let ids: number[];
  try {
    ids = m.parseIdList((values.ids as string | undefined) ?? '1-247', values.tcp ? 0 : 1, values.tcp ? 255 : 247);
  } catch (err) {
    throw new UsageError(`--ids: ${(err as Error).message}`);
  }
  const regText = (values.register as string | undefined) ?? 'holding:0';
  const rm = /^(holding|input|coil|discrete):(\d{1,5})$/.exec(regText);
  if (!rm || Number(rm[2]) > 65535) throw new UsageError(`--register: expected holding|input|coil|discrete:<address 0-65535>, got ${JSON.stringify(regText)}`);
  const register = { table: rm[1] as 'holding' | 'input' | 'coil' | 'discrete', address: Number(rm[2]) };
  let target: import('./modbus/scan.ts').ModbusScanTarget;
  let held: PortHolder[] = [];
  if (values.tcp) {
    const tm = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(values.tcp as string);
    const port = Number(tm?.[2] ?? 502);
    if (!tm || port < 1 || port > 65535) throw new UsageError(`--tcp: expected host or host:port, got ${JSON.stringify(values.tcp)}`);
    if (values.baud || values.parity) throw new UsageError('--baud and --parity are for --port (a gateway sets its own serial line)');
    target = { type: values['rtu-over-tcp'] ? 'rtu-over-tcp' : 'tcp', host: tm[1].replace(/^\[|\]$/g, ''), port };
  } else {
    if (values['rtu-over-tcp']) throw new UsageError('--rtu-over-tcp goes with --tcp');
    target = { type: 'rtu', port: values.port as string, bauds: bauds((values.baud as string | undefined) ?? '9600,19200,38400,115200'), parities: parities((values.parity as string | undefined) ?? 'none,even') };
    held = checkPort(target.port, !!values.force, io);
  }
  const timeoutMs = ms(values.timeout as string | undefined);
  const where = target.type === 'rtu' ? target.port : `${target.host}:${target.port}`;
  const settings = m.scanSettings(target);
  const p = progress(io);
  p.line(`scanning ${where}: ${settings.length} setting${settings.length > 1 ? 's' : ''} x ${ids.length} unit ids, at most ${duration(m.estimateScanMs({ target, ids, timeoutMs }))} (read requests only; Ctrl-C stops and prints what was found)`);
  let current = '';
  const result = await m.scanModbus({
    target, ids, timeoutMs, register, signal: io.signal,
    onProgress: (x) => {
      if (x.setting !== current) {
        current = x.setting;
        p.line(`${x.setting}: probing unit ids ${ids[0]}-${ids.at(-1)}`);
      }
      p.bar(x.done, x.total, `${x.setting} unit ${x.unitId} - found ${x.found}`, x.unitId === 0);
    },
    onSetting: (s) => {
      const hint = s.garbled ? `, ${s.garbled} garbled replies (devices at another speed or parity, or noise)` : '';
      p.line(`${s.setting}: ${s.found.length ? `found unit${s.found.length > 1 ? 's' : ''} ${s.found.join(', ')}` : 'nothing'} (${s.probes} requests, ${duration(s.ms)}${hint})`);
    },
  }).catch((err: Error) => {
    p.end();
    throw portFailed(err, held);
  });
  p.end();
  const snippet = m.modbusSnippet(result, register);
  if (values.json) {
    io.stdout.write(JSON.stringify({ target, ids: { first: ids[0], last: ids.at(-1), count: ids.length }, ...result, snippet }, null, 2) + '\n');
  } else if (result.units.length) {
    io.stdout.write(`found ${result.units.length} unit${result.units.length > 1 ? 's' : ''} on ${where}:\n`);
    const { exceptionName } = await import('./modbus/errors.ts');
    for (const u of result.units) {
      const answer = 'value' in u.answer ? `${register.table} ${register.address} = ${u.answer.value}` : `exception ${u.answer.exception} (${exceptionName(u.answer.exception)})`;
      const prof = u.profiles.length ? `profile ${u.profiles.join(' or ')}` : 'no profile recognised';
      io.stdout.write(`  unit ${String(u.unitId).padEnd(4)} ${u.settings.map(m.settingText).join(', ').padEnd(16)} ${answer.padEnd(36)} ${prof}\n`);
    }
    io.stdout.write(`\n# add to the devices list of the config, then: wayside check --config <file>\n${snippet}`);
  } else {
    io.stdout.write(`no unit answered on ${where} (${result.probes} requests in ${duration(result.ms)})${result.aborted ? '; stopped early' : ''}\n`);
  }
  return result.units.length ? 0 : 1;
}

async function dlt645(argv: string[], io: ScanIo): Promise<number> {
  const { values, positionals } = args(argv, {
    port: { type: 'string' }, baud: { type: 'string' }, parity: { type: 'string' }, timeout: { type: 'string' },
    json: { type: 'boolean' }, force: { type: 'boolean' },
  });
  if (positionals.length) throw new UsageError(`scan dlt645: unexpected argument "${positionals[0]}"`);
  if (!values.port) throw new UsageError('scan dlt645: --port <tty> is required');
  const port = values.port as string;
  const b = bauds((values.baud as string | undefined) ?? '2400', [1200, 2400, 4800, 9600, 19200]);
  const par = parities((values.parity as string | undefined) ?? 'even');
  if (par.length > 1) throw new UsageError('scan dlt645: --parity takes one value (DL/T 645 meters use even)');
  const timeoutMs = ms(values.timeout as string | undefined);
  const held = checkPort(port, !!values.force, io);
  const d = await import('./dlt645/scan.ts');
  const est = d.estimateDlt645Ms({ bauds: b, timeoutMs });
  const p = progress(io);
  p.line(`scanning ${port} for DL/T 645 meters at ${b.join(', ')} baud: broadcast read-address (${duration(est.broadcast)}); if several meters answer at once, a wildcard sweep of about ${duration(est.perLevel)} per address byte`);
  const result = await d.scanDlt645({
    port, bauds: b, parity: par[0], timeoutMs, signal: io.signal,
    onProgress: (x) => p.bar(x.done, x.total, `${x.address} - found ${x.found}`),
  }).catch((err: Error) => {
    p.end();
    throw portFailed(err, held);
  });
  p.end();
  for (const s of result.settings) {
    const what = { silent: 'no reply', one: 'one meter answered', collision: 'several meters answered at once: swept wildcard addresses' }[s.broadcast];
    p.line(`${s.setting}: ${what} (${s.probes} requests, ${duration(s.ms)})`);
  }
  for (const u of result.unresolved) p.line(`warning: replies to ${u} still collided with every digit fixed: two meters with one address?`);
  const snippet = d.dlt645Snippet(result, port);
  if (values.json) io.stdout.write(JSON.stringify({ port, ...result, snippet }, null, 2) + '\n');
  else if (result.meters.length) {
    io.stdout.write(`found ${result.meters.length} meter${result.meters.length > 1 ? 's' : ''} on ${port}:\n`);
    for (const m of result.meters) io.stdout.write(`  ${m.address}  ${m.baudRate} 8${m.parity[0].toUpperCase()}1  (${m.via})\n`);
    io.stdout.write(`\n# add to the devices list of the config, then: wayside check --config <file>\n${snippet}`);
  } else io.stdout.write(`no meter answered on ${port} (${result.probes} requests in ${duration(result.ms)})${result.aborted ? '; stopped early' : ''}\n`);
  return result.meters.length ? 0 : 1;
}

async function serial(argv: string[], io: ScanIo): Promise<number> {
  const { values, positionals } = args(argv, { all: { type: 'boolean' }, json: { type: 'boolean' } });
  if (positionals.length) throw new UsageError(`scan serial: unexpected argument "${positionals[0]}"`);
  const { listSerialPorts, formatSerialPort } = await import('./common/serial-list.ts');
  const ports = listSerialPorts({ sysfs: io.sysfs, dev: io.dev, all: !!values.all });
  // Who holds a port: read from /proc for the ports with hardware behind them (virtual consoles
  // are many and of no interest here; each look walks every process's fds).
  const holders = (p: { path: string; bus: string }) => (p.bus !== 'virtual' && existsSync(p.path) ? (io.holders ?? portHolders)(p.path) : []);
  if (values.json) {
    io.stdout.write(JSON.stringify({ ports: ports.map((p) => ({ ...p, openBy: holders(p) })) }, null, 2) + '\n');
    return 0;
  }
  if (!ports.length) {
    io.stdout.write('no serial ports found (no USB serial adapter plugged in, and no on-board UART)\n');
    return 0;
  }
  for (const p of ports) {
    const by = holders(p).map((h) => `open by pid ${h.pid}${isWaysideAgent(h) ? ' (the wayside agent)' : ''}`);
    io.stdout.write([formatSerialPort(p), ...by].join('  ') + '\n');
  }
  return 0;
}

/** `wayside scan ...` with the given io; returns the exit code. */
export async function scanCli(argv: string[], io: ScanIo): Promise<number> {
  const [what, ...rest] = argv;
  try {
    if (what === 'modbus') return await modbus(rest, io);
    if (what === 'dlt645') return await dlt645(rest, io);
    if (what === 'serial') return await serial(rest, io);
    if (what === undefined || what === 'help' || what === '--help' || what === '-h') {
      io.stdout.write(`usage:\n${SCAN_USAGE}`);
      return what === undefined ? 2 : 0;
    }
    throw new UsageError(`unknown scan "${what}" (modbus, dlt645 or serial)`);
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`wayside scan: ${err.message}\nusage:\n${SCAN_USAGE}`);
      return 2;
    }
    if (err instanceof Refused) {
      io.stderr.write(`wayside scan: ${err.message}\n`);
      return 2;
    }
    io.stderr.write(`wayside scan: ${(err as Error).message}\n`);
    return 1;
  }
}

/** The `scan` verb of the wayside command: process io; Ctrl-C stops the scan, twice exits. */
export const scanVerb = {
  usage: SCAN_USAGE,
  async run(argv: string[]): Promise<number> {
    const ac = new AbortController();
    const onInt = () => {
      if (ac.signal.aborted) process.exit(130);
      ac.abort();
      process.stderr.write('\nwayside scan: stopping after this request (Ctrl-C again to quit now)\n');
    };
    process.on('SIGINT', onInt);
    try {
      return await scanCli(argv, { stdout: process.stdout, stderr: process.stderr, signal: ac.signal });
    } finally {
      process.off('SIGINT', onInt);
    }
  },
};
