// An AT command modem simulator for tests: opens the device side of a socat pty pair and answers
// the commands the modem driver sends the way the modules' AT manuals describe them, in
// verbose form ("\r\n+CSQ: 20,99\r\n\r\nOK\r\n"), with the echo of each command while echo is
// on (ATE1, the factory default). Three models:
//   EC25    Quectel LTE Cat-4: +QENG "servingcell" in its "LTE" form, no +C5GREG.
//   BG96    Quectel LTE-M/NB-IoT, here camped on NB-IoT: +COPS AcT 9, +QENG "CAT-NB".
//   SIM7600 SIMCom LTE Cat-4: no AT+QENG (ERROR), no +C5GREG.
// A test steers it: the values (mutable, they change between polls), echo on/off, a modem that
// keeps echoing whatever ATE0 says, commands answered with ERROR or +CME ERROR, URCs injected
// in the middle of the next replies or between replies, replies cut into small writes (lines
// split across reads), and silence. It counts every command it receives.
import { SerialPort } from 'serialport';

export type ModemModel = 'EC25' | 'BG96' | 'SIM7600';

export interface RegState {
  stat: number;
  /** LAC / TAC, hex. */
  area?: string;
  /** Cell id, hex. */
  ci?: string;
  act?: number;
}

export interface ModemValues {
  csq: { rssi: number; ber: number };
  /** <rxlev>,<ber>,<rscp>,<ecno>,<rsrq>,<rsrp>[,<ss_rsrq>,<ss_rsrp>,<ss_sinr>] */
  cesq: number[];
  cops: { mode: number; format?: number; operator?: string; act?: number };
  creg: RegState;
  cereg: RegState;
  c5greg: RegState;
  /** Parameters of the +QENG "servingcell" line after `+QENG: `, or several lines (EN-DC). */
  qeng: string[];
}

export interface ModemSimOptions {
  path: string;
  model: ModemModel;
  /** Echo at power-on (default true, as shipped). */
  echo?: boolean;
  /** Keep echoing whatever ATE0 says (never rely on ATE0). */
  stickyEcho?: boolean;
  values?: Partial<ModemValues>;
  /** Upper-case command -> final result line sent instead of the reply ("ERROR", "+CME ERROR: 10"). */
  errors?: Record<string, string>;
  /** Write replies in pieces of this many bytes, a few ms apart (lines split across reads). */
  chunk?: number;
}

export interface ModemSimulator {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Open the device side again (after the pty pair was replugged). */
  reopen(): Promise<void>;
  readonly values: ModemValues;
  echo: boolean;
  /** Receive and count commands, answer nothing. */
  silent: boolean;
  /** Upper-case command -> final result line sent instead of the reply. */
  readonly errors: Map<string, string>;
  /**
   * URC lines to put inside the next reply not yet given some: before its information lines
   * (just after the echo) or after them (just before the final result code).
   */
  urcsInNextReply(lines: string[], where?: 'before' | 'after'): void;
  /** Send URC lines now (between replies). */
  urc(lines: string[]): Promise<void>;
  /** Commands received, all or one (upper-case, as sent: "AT+QENG=\"SERVINGCELL\""). */
  requests(command?: string): number;
  /** Every command received, in order. */
  readonly log: string[];
  /** Current settings the driver made (CMEE, CREG/CEREG/C5GREG <n>). */
  readonly settings: { cmee: number; creg: number; cereg: number; c5greg: number };
}

const LTE_EC25: ModemValues = {
  csq: { rssi: 20, ber: 99 }, // -73 dBm
  cesq: [99, 99, 255, 255, 20, 45], // rsrq -10 dB, rsrp -96 dBm
  cops: { mode: 0, format: 0, operator: 'Telekom.de', act: 7 },
  creg: { stat: 1, area: '1D3F', ci: '1A2D001', act: 7 },
  cereg: { stat: 1, area: '1D3F', ci: '1A2D001', act: 7 },
  c5greg: { stat: 0 },
  // "servingcell",<state>,"LTE",<is_tdd>,<MCC>,<MNC>,<cellID>,<PCID>,<earfcn>,<band>,<UL_bw>,<DL_bw>,<TAC>,<RSRP>,<RSRQ>,<RSSI>,<SINR>,<srxlev>
  qeng: ['"servingcell","NOCONN","LTE","FDD",262,01,1A2D001,123,1300,3,5,5,1D3F,-95,-10,-65,150,34'],
};

const NB_BG96: ModemValues = {
  csq: { rssi: 12, ber: 99 }, // -89 dBm
  cesq: [99, 99, 255, 255, 14, 30], // rsrq -13 dB, rsrp -111 dBm
  cops: { mode: 0, format: 0, operator: 'Vodafone.de NB-IoT', act: 9 },
  creg: { stat: 0 },
  cereg: { stat: 5, area: '6F1A', ci: '0B3C2D4', act: 9 },
  c5greg: { stat: 0 },
  qeng: ['"servingcell","CONNECT","CAT-NB","FDD",262,02,B3C2D4,321,6254,20,0,0,6F1A,-112,-13,-90,60,12'],
};

const LTE_SIM7600: ModemValues = {
  csq: { rssi: 25, ber: 99 }, // -63 dBm
  cesq: [99, 99, 255, 255, 24, 52], // rsrq -8 dB, rsrp -89 dBm
  cops: { mode: 0, format: 0, operator: 'CHINA MOBILE', act: 7 },
  creg: { stat: 1, area: '2A1B', ci: '4C5D6E7', act: 7 },
  cereg: { stat: 1, area: '2A1B', ci: '4C5D6E7', act: 7 },
  c5greg: { stat: 0 },
  qeng: [],
};

const MODELS: Record<ModemModel, { values: ModemValues; qeng: boolean; c5greg: boolean }> = {
  EC25: { values: LTE_EC25, qeng: true, c5greg: false },
  BG96: { values: NB_BG96, qeng: true, c5greg: false },
  SIM7600: { values: LTE_SIM7600, qeng: false, c5greg: false },
};

const CME_TEXT: Record<number, string> = { 3: 'operation not allowed', 4: 'operation not supported', 10: 'SIM not inserted', 30: 'no network service' };

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

export function createModemSimulator(opts: ModemSimOptions): ModemSimulator {
  const model = MODELS[opts.model];
  const values: ModemValues = { ...clone(model.values), ...clone(opts.values ?? {}) };
  const errors = new Map(Object.entries(opts.errors ?? {}).map(([k, v]) => [k.toUpperCase(), v]));
  const settings = { cmee: 0, creg: 0, cereg: 0, c5greg: 0 };
  const log: string[] = [];
  const pendingUrcs: { lines: string[]; where: 'before' | 'after' }[] = [];
  let port: SerialPort | undefined;
  let inbuf = '';
  let writing: Promise<void> = Promise.resolve();

  const sim: ModemSimulator = {
    values,
    echo: opts.echo ?? true,
    silent: false,
    errors,
    settings,
    log,
    urcsInNextReply: (lines, where = 'before') => void pendingUrcs.push({ lines, where }),
    urc: (lines) => send(lines.map((l) => `\r\n${l}\r\n`).join('')),
    requests: (command) => (command === undefined ? log.length : log.filter((c) => c === command.toUpperCase()).length),
    start: () => open(),
    reopen: () => open(),
    async stop() {
      const p = port;
      port = undefined;
      await writing;
      if (p?.isOpen) await new Promise<void>((r) => p.close(() => r()));
    },
  };

  function open(): Promise<void> {
    return new Promise((resolve, reject) => {
      const p = new SerialPort({ path: opts.path, baudRate: 115200, autoOpen: false });
      p.on('error', () => {});
      p.open((err) => {
        if (err) return reject(err);
        port = p;
        inbuf = '';
        p.on('data', (chunk: Buffer) => onData(chunk));
        resolve();
      });
    });
  }

  /** Write text, in pieces when asked; writes keep their order. */
  function send(text: string): Promise<void> {
    const p = port;
    const step = opts.chunk ?? text.length;
    writing = writing.then(async () => {
      for (let i = 0; i < text.length; i += step) {
        if (!p?.isOpen) return;
        await new Promise<void>((r) => p.write(Buffer.from(text.slice(i, i + step), 'latin1'), () => r()));
        if (step < text.length) await new Promise((r) => setTimeout(r, 3));
      }
    });
    return writing;
  }

  function onData(chunk: Buffer): void {
    inbuf += chunk.toString('latin1');
    let i: number;
    while ((i = inbuf.indexOf('\r')) >= 0) {
      const cmd = inbuf.slice(0, i).replace(/\n/g, '').trim();
      inbuf = inbuf.slice(i + 1);
      if (cmd) void handle(cmd);
    }
  }

  const errorLine = (code: number) =>
    settings.cmee === 0 ? 'ERROR' : settings.cmee === 2 && CME_TEXT[code] ? `+CME ERROR: ${CME_TEXT[code]}` : `+CME ERROR: ${code}`;

  function regLine(name: string, n: number, r: RegState): string {
    const registered = r.stat === 1 || r.stat === 5;
    if (n >= 2 && registered && r.area && r.ci) return `${name}: ${n},${r.stat},"${r.area}","${r.ci}"${r.act === undefined ? '' : `,${r.act}`}`;
    return `${name}: ${n},${r.stat}`;
  }

  /** The information lines and final result of one command. */
  function answer(cmd: string): { lines: string[]; final: string } {
    const up = cmd.toUpperCase();
    const ok = (...lines: string[]) => ({ lines, final: 'OK' });
    const configured = errors.get(up);
    if (configured !== undefined) {
      const m = /^\+CME ERROR: (\d+)$/.exec(configured);
      return { lines: [], final: m ? errorLine(Number(m[1])) : configured };
    }
    let m: RegExpExecArray | null;
    if (up === 'AT') return ok();
    if ((m = /^ATE([01])$/.exec(up))) {
      if (!opts.stickyEcho) sim.echo = m[1] === '1';
      return ok();
    }
    if ((m = /^AT\+CMEE=([012])$/.exec(up))) {
      settings.cmee = Number(m[1]);
      return ok();
    }
    if (up === 'AT+CSQ') return ok(`+CSQ: ${values.csq.rssi},${values.csq.ber}`);
    if (up === 'AT+CESQ') return ok(`+CESQ: ${values.cesq.join(',')}`);
    if (up === 'AT+COPS?') {
      const c = values.cops;
      return ok(c.operator === undefined ? `+COPS: ${c.mode}` : `+COPS: ${c.mode},${c.format ?? 0},"${c.operator}"${c.act === undefined ? '' : `,${c.act}`}`);
    }
    for (const key of ['creg', 'cereg', 'c5greg'] as const) {
      if (key === 'c5greg' && !model.c5greg) continue;
      const name = `+${key.toUpperCase()}`;
      if (up === `AT${name}?`) return ok(regLine(name, settings[key], values[key]));
      if ((m = new RegExp(`^AT\\${name}=([0-5])$`).exec(up))) {
        settings[key] = Number(m[1]);
        return ok();
      }
    }
    if (up === 'AT+QENG="SERVINGCELL"' && model.qeng) return ok(...values.qeng.map((l) => `+QENG: ${l}`));
    return { lines: [], final: 'ERROR' }; // what these modules answer to a command they do not know
  }

  async function handle(cmd: string): Promise<void> {
    log.push(cmd.toUpperCase());
    if (sim.silent) return;
    const echo = sim.echo ? `${cmd}\r` : '';
    const { lines, final } = answer(cmd);
    const out = lines.map((l) => `\r\n${l}\r\n`);
    const urcs = pendingUrcs.shift();
    if (urcs) out.splice(urcs.where === 'before' ? 0 : out.length, 0, ...urcs.lines.map((u) => `\r\n${u}\r\n`));
    await send(`${echo}${out.join('')}\r\n${final}\r\n`);
  }

  return sim;
}
