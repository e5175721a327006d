// `modem`: a cellular modem read over its AT command port, so the backhaul's link quality is a
// device like any other (history, summaries, alarms). Every `interval` the driver asks, one
// command at a time: AT+CSQ, AT+CESQ, AT+COPS?, AT+CREG?, AT+CEREG?, AT+C5GREG? and, on Quectel
// modules, AT+QENG="servingcell"; the replies become readings (drivers/modem/parse.ts).
//
// Support is learnt, not configured: a command the modem answers with ERROR or "+CME ERROR: 4"
// (operation not supported) the first time it is asked is never asked again; once a command
// has worked, an error from it is a device error of that poll. Any other +CME error is a device
// error too (counted in health as `exception`, logged); the modem answered, so it stays online.
//
// The link health is the shared device monitor's: each command answered is a success, each
// one timed out or lost with the port a failure; three in a row make the device offline
// (device.fault raise), the next answer brings it back (device.fault clear). The port is the
// device's own (createSerialLine: reopened after an unplug). The modem is set up on every
// (re)open, after it was offline and when it says RDY (restarted): ATE0 (echo off; replies are
// read the same with echo on), AT+CMEE=1 (numeric +CME errors), AT+CREG=2 / AT+CEREG=2 /
// AT+C5GREG=2 (cell id and area in the registration replies).
import type { Ctx, DeviceHealth, Driver, Reading } from '../../runtime/types.ts';
import { createDeviceMonitor, type FaultKind } from '../common/device-monitor.ts';
import { createSerialLine } from '../common/serial-line.ts';
import { refuseWrite } from '../common/write.ts';
import { AtAbortedError, AtTimeoutError, commandPrefix, createAtSession, type AtResponse, type AtStats } from './at.ts';
import { MODEM_POINTS } from './definition.ts';
import {
  isRegistered, isRegReadReply, parseCesq, parseCops, parseCsq, parseQeng, parseReg, ReplyParseError,
  type Access, type CesqValues, type QengValues, type RegValues, type Registration,
} from './parse.ts';
import type { ModemConfig } from './schema.ts';

export { modemSchema, MODEM_DESCRIPTION, type ModemConfig } from './schema.ts';
export { modemFamily, modemPoints, modemPortUse, MODEM_POINTS } from './definition.ts';

export type CommandKey = 'csq' | 'cesq' | 'cops' | 'creg' | 'cereg' | 'c5greg' | 'qeng';
export type Support = 'unknown' | 'yes' | 'no';

/** The read commands of one poll, in the order they are sent. */
export const COMMANDS: Record<CommandKey, { command: string; accept?: (line: string) => boolean }> = {
  csq: { command: 'AT+CSQ' },
  cesq: { command: 'AT+CESQ' },
  cops: { command: 'AT+COPS?' },
  creg: { command: 'AT+CREG?', accept: isRegReadReply },
  cereg: { command: 'AT+CEREG?', accept: isRegReadReply },
  c5greg: { command: 'AT+C5GREG?', accept: isRegReadReply },
  qeng: { command: 'AT+QENG="servingcell"' },
};

/** Setup commands; the `key` ones tell about that read command's support when refused. */
const SETUP: { command: string; key?: CommandKey }[] = [
  { command: 'ATE0' },
  { command: 'AT+CMEE=1' },
  { command: 'AT+CREG=2', key: 'creg' },
  { command: 'AT+CEREG=2', key: 'cereg' },
  { command: 'AT+C5GREG=2', key: 'c5greg' },
];

export interface ModemHealth extends DeviceHealth {
  errorsByKind: Partial<Record<FaultKind, number>>;
  consecutiveFailures: number;
  /** What the modem was found to support. */
  commands: Record<CommandKey, Support>;
  /** The AT channel's counters (URCs, timeouts, stray replies). */
  at: AtStats;
  /** Times the port was (re)opened. */
  opens: number;
}

export interface ModemDriver extends Driver {
  health(): ModemHealth;
}

/** Not answering (offline now), or the port is gone: end the poll. */
const DOWN = Symbol('down');
/** This command timed out, the device is not offline yet: go on with the next one. */
const LOST = Symbol('lost');

/** An error reply meaning "this modem does not have that command". */
const unsupported = (r: AtResponse) => (!r.cme && r.final.toUpperCase() === 'ERROR') || r.cme?.code === 4 || /not supported/i.test(r.cme?.text ?? '');

export function createModemDriver(cfg: { id: string } & ModemConfig, ctx: Ctx): ModemDriver {
  const log = ctx.log; // already carries { mod, device } (runtime/agent.ts)
  const monitor = createDeviceMonitor(ctx, { device: cfg.id, driver: 'modem' }, { maxBackoffMs: cfg.maxBackoff });
  const initialSupport = (): Record<CommandKey, Support> =>
    ({ csq: 'unknown', cesq: 'unknown', cops: 'unknown', creg: 'unknown', cereg: 'unknown', c5greg: 'unknown', qeng: cfg.commands.qeng === 'off' ? 'no' : 'unknown' });
  let support = initialSupport();
  const replyErrors: Partial<Record<FaultKind, number>> = {};
  const reported = new Map<string, string>(); // command -> last error logged at warn
  let lastError: string | undefined;
  let running = false;
  let needSetup = true;
  let timer: NodeJS.Timeout | undefined;
  let cycle: Promise<void> | undefined;

  const session = createAtSession({
    write: (data) => line.write(Buffer.from(data, 'latin1')),
    log,
    onUrc: (urc) => {
      if (/^RDY$/i.test(urc)) {
        needSetup = true;
        log.info('modem says RDY (restarted); setting it up again');
      }
    },
  });

  const line = createSerialLine(
    { path: cfg.port, baudRate: cfg.baudRate },
    {
      log,
      onData: (chunk) => session.push(chunk),
      onOpen: () => {
        session.reset();
        needSetup = true;
        log.info({ port: cfg.port, baudRate: cfg.baudRate }, 'modem AT port open');
        // Ask at once rather than at the end of a backoff: the port just came back.
        if (running && !cycle) {
          clearTimeout(timer);
          schedule(0);
        }
      },
      onDown: (err) => {
        session.abort(`serial port down: ${err.message}`, 'down');
        if (running) fail('io', err);
      },
    },
  );

  /** A failure of the link (timeout, port): the monitor's state machine, and the latest error. */
  const fail = (kind: FaultKind, err: Error) => {
    lastError = `${kind}: ${err.message}`;
    monitor.fail(kind, err);
  };

  const replyError = (kind: FaultKind, command: string, message: string) => {
    replyErrors[kind] = (replyErrors[kind] ?? 0) + 1;
    lastError = `${kind}: ${command}: ${message}`;
    if (reported.get(command) !== message) {
      reported.set(command, message);
      log.warn({ command, err: message }, kind === 'exception' ? 'modem refused a command' : 'modem reply not understood');
    } else log.debug({ command, err: message }, kind === 'exception' ? 'modem refused a command again' : 'modem reply not understood again');
  };

  /** One command: its information lines, undefined (refused, unsupported), LOST or DOWN. */
  async function ask(command: string, key?: CommandKey, accept?: (line: string) => boolean): Promise<string[] | undefined | typeof LOST | typeof DOWN> {
    if (!running) return DOWN;
    let r: AtResponse;
    try {
      r = await session.send({ command, timeoutMs: cfg.timeout, accept });
    } catch (err) {
      if (err instanceof AtTimeoutError) {
        fail('timeout', err);
        if (monitor.state() !== 'offline') return LOST;
        needSetup = true; // it may come back restarted, with our settings gone
        return DOWN;
      }
      if (err instanceof AtAbortedError && err.why === 'write') fail('io', err);
      // 'down' is counted by the serial line's onDown, 'stopped' is no fault.
      return DOWN;
    }
    monitor.ok();
    if (r.ok) {
      if (key && support[key] === 'unknown') support[key] = 'yes';
      reported.delete(command);
      return r.lines;
    }
    if (key && support[key] === 'unknown' && unsupported(r) && !(key === 'qeng' && cfg.commands.qeng === 'on')) {
      support[key] = 'no';
      log.info({ command, reply: r.final }, 'modem does not support the command; not asking again');
      return undefined;
    }
    replyError('exception', command, r.final);
    return undefined;
  }

  /** The setup commands; done once all were answered (a lost one is sent again next poll). */
  async function setup(): Promise<boolean> {
    let complete = true;
    for (const s of SETUP) {
      if (s.key && support[s.key] === 'no') continue;
      const r = await ask(s.command, s.key);
      if (r === DOWN) return false;
      if (r === LOST) complete = false;
    }
    needSetup = !complete;
    return true;
  }

  /** Parse a reply, counting a malformed one as a protocol error of the poll. */
  function parsed<T>(command: string, lines: string[], parse: (lines: string[]) => T): T | undefined {
    try {
      if (lines.length === 0) throw new ReplyParseError('OK', `reply without a ${commandPrefix(command)}: line`);
      return parse(lines);
    } catch (err) {
      replyError('protocol', command, (err as Error).message);
      return undefined;
    }
  }

  async function poll(): Promise<void> {
    if (!line.isOpen()) return; // the serial line reopens by itself and counts each failure
    if (needSetup && !(await setup())) return;
    const got: Partial<Record<CommandKey, string[]>> = {};
    for (const key of Object.keys(COMMANDS) as CommandKey[]) {
      if (support[key] === 'no') continue;
      const r = await ask(COMMANDS[key].command, key, COMMANDS[key].accept);
      if (r === DOWN) break;
      if (Array.isArray(r)) got[key] = r;
    }
    if (running) emit(got);
  }

  function emit(got: Partial<Record<CommandKey, string[]>>): void {
    const one = <T>(key: CommandKey, parse: (line: string) => T) => (got[key] ? parsed(COMMANDS[key].command, got[key], (l) => parse(l[0])) : undefined);
    const csq = one('csq', parseCsq);
    const cesq: CesqValues | undefined = one('cesq', parseCesq);
    const cops = one('cops', parseCops);
    const regs = { c5greg: one('c5greg', parseReg), cereg: one('cereg', parseReg), creg: one('creg', parseReg) };
    const qeng: QengValues | undefined = got.qeng ? parsed(COMMANDS.qeng.command, got.qeng, (l) => parseQeng(l, cfg.commands.qengSinr)) : undefined;

    const access = cops?.access ?? qeng?.access;
    const reg = chooseRegistration(regs, access);
    const values: Record<string, Reading['value'] | undefined> = {
      rssi_dbm: csq?.rssiDbm,
      rsrp_dbm: qeng?.rsrpDbm ?? cesq?.rsrpDbm ?? cesq?.ssRsrpDbm,
      rsrq_db: qeng?.rsrqDb ?? cesq?.rsrqDb ?? cesq?.ssRsrqDb,
      sinr_db: qeng?.sinrDb ?? cesq?.ssSinrDb,
      registered: reg?.registration === undefined ? undefined : isRegistered(reg.registration),
      registration: reg?.registration,
      operator: cops?.operator,
      access: access ?? reg?.access,
      cell_id: reg?.cellId ?? qeng?.cellId,
    };
    for (const p of MODEM_POINTS) {
      const value = values[p.name];
      if (value !== undefined) monitor.reading({ point: p.name, value, ...(p.unit !== undefined && { unit: p.unit }) });
    }
  }

  const schedule = (delay: number) => {
    timer = setTimeout(() => {
      const began = performance.now();
      cycle = poll()
        .catch((err) => log.error({ err }, 'modem poll failed'))
        .finally(() => {
          cycle = undefined;
          if (running) schedule(Math.max(0, monitor.nextDelay(cfg.interval) - (performance.now() - began)));
        });
    }, delay);
  };

  return {
    write: refuseWrite('modem', cfg.id, MODEM_POINTS.map((p) => p.name)),
    async start() {
      if (running) return;
      running = true;
      needSetup = true;
      support = initialSupport(); // a (re)started device learns its modem afresh (it may have been swapped)
      monitor.started();
      log.info({ port: cfg.port, intervalMs: cfg.interval, qeng: cfg.commands.qeng }, 'modem started');
      line.start();
      schedule(0);
    },
    async stop() {
      running = false;
      clearTimeout(timer);
      session.abort('device stopping', 'stopped');
      await cycle;
      await line.stop();
      monitor.stopped();
    },
    health(): ModemHealth {
      const h = monitor.health();
      const byKind = { ...h.errorsByKind };
      let extra = 0;
      for (const [k, n] of Object.entries(replyErrors) as [FaultKind, number][]) {
        byKind[k] = (byKind[k] ?? 0) + n;
        extra += n;
      }
      return { ...h, errors: h.errors + extra, errorsByKind: byKind, lastError, commands: { ...support }, at: session.stats(), opens: line.opens() };
    },
  };
}

const RANK: Registration[] = ['home', 'roaming', 'searching', 'denied', 'not_registered', 'unknown'];

/**
 * The registration that speaks for the modem: a registered domain first (the one of the access
 * technology in use: C5GREG for NR, CEREG for LTE, CREG for GSM/UMTS), else the most hopeful
 * state (searching before denied before not registered).
 */
export function chooseRegistration(regs: { c5greg?: RegValues; cereg?: RegValues; creg?: RegValues }, access?: Access): RegValues | undefined {
  const domain = access === 'NR5G' ? regs.c5greg : access === 'GSM' || access === 'UMTS' ? regs.creg : access ? regs.cereg : undefined;
  const all = [regs.c5greg, regs.cereg, regs.creg].filter((r): r is RegValues & { registration: Registration } => r?.registration !== undefined);
  if (domain?.registration && isRegistered(domain.registration)) return domain;
  const registered = all.find((r) => isRegistered(r.registration));
  if (registered) return registered;
  return all.sort((a, b) => RANK.indexOf(a.registration) - RANK.indexOf(b.registration))[0];
}
