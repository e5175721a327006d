// The AT command channel of a cellular modem: one command at a time over a byte stream, its
// reply told apart from everything else the modem says on the same port.
//
// A reply to `AT+CSQ` is zero or more information lines starting with "+CSQ:" and one final
// result code (OK, ERROR, +CME ERROR: <n|text>, +CMS ERROR: <n|text>). Around and inside it
// may come: the echo of the command (ATE1, the factory default), unsolicited result codes
// (URCs: "+CEREG: 1", "RING", "+QIND: ...", "RDY") at any moment, lines cut across reads, and
// nothing at all (a hung modem). A line is taken as the answer only when it carries the
// command's own prefix (and passes the request's `accept`); anything else is a URC, counted
// and logged at debug. A final result code nobody waits for (the late reply of a command that
// timed out) is counted as stray and dropped.
import type { Log } from '../../runtime/types.ts';

export interface AtRequest {
  /** The command line without its terminator, like `AT+CSQ` or `AT+COPS?`. */
  command: string;
  timeoutMs: number;
  /**
   * Whether a line with the command's prefix belongs to this reply. `+CEREG: 1,"1A2B",...`
   * (a URC) and `+CEREG: 2,1,"1A2B",...` (the read reply) share a prefix: see parse.ts.
   */
  accept?: (line: string) => boolean;
}

export interface CmeError {
  /** "+CME ERROR" or "+CMS ERROR". */
  type: string;
  /** Numeric code (AT+CMEE=1), or undefined for the text form (AT+CMEE=2). */
  code?: number;
  text?: string;
}

export interface AtResponse {
  command: string;
  ok: boolean;
  /** Information lines of the reply, as sent ("+CSQ: 20,99"). */
  lines: string[];
  /** The final result code as sent: "OK", "ERROR", "+CME ERROR: 4". */
  final: string;
  /** Set for +CME ERROR / +CMS ERROR finals. */
  cme?: CmeError;
}

/** No final result code within the timeout. */
export class AtTimeoutError extends Error {
  readonly command: string;
  readonly timeoutMs: number;
  constructor(command: string, timeoutMs: number) {
    super(`no reply to ${command} within ${timeoutMs} ms`);
    this.name = 'AtTimeoutError';
    this.command = command;
    this.timeoutMs = timeoutMs;
  }
}

/** Why a command was abandoned: its write failed, the port went down, the session is stopping. */
export type AbortCause = 'write' | 'down' | 'stopped';

/** The command could not be sent or was abandoned. */
export class AtAbortedError extends Error {
  readonly command: string;
  readonly why: AbortCause;
  constructor(command: string, reason: string, cause: AbortCause) {
    super(`${command}: ${reason}`);
    this.name = 'AtAbortedError';
    this.command = command;
    this.why = cause;
  }
}

export interface AtStats {
  commands: number;
  timeouts: number;
  /** Unsolicited result codes seen, in total and by name ("+CEREG", "RING", "RDY"). */
  urcs: number;
  urcsByName: Record<string, number>;
  /** Final result codes nobody waited for (late replies). */
  stray: number;
  echoes: number;
  /** Bytes dropped because a line grew past MAX_LINE without an end. */
  dropped: number;
}

export interface AtSession {
  /** Queue a command; resolves with its reply (OK or an error result), rejects on timeout or abort. */
  send(req: AtRequest): Promise<AtResponse>;
  /** Bytes read from the port. */
  push(chunk: Buffer | string): void;
  /** Fail the command in flight and every queued one (port down, stop). */
  abort(reason: string, cause: Exclude<AbortCause, 'write'>): void;
  /** Drop a partial line (the port reopened: its bytes belong to nothing). */
  reset(): void;
  stats(): AtStats;
}

export interface AtSessionDeps {
  write(data: string): Promise<void>;
  log: Log;
  onUrc?(line: string): void;
}

/** Longest line kept; a modem never sends one this long (a wrong baud rate might). */
export const MAX_LINE = 4096;

const FINAL_RE = /^(OK|ERROR|(\+CM[ES] ERROR):\s*(.*))$/i;

/** The prefix of a command's information lines: `AT+CSQ` -> "+CSQ", `AT+QENG="x"` -> "+QENG"; none for ATE0. */
export function commandPrefix(command: string): string | undefined {
  return /^AT([+$#%^][A-Z0-9]+)/i.exec(command.trim())?.[1]?.toUpperCase();
}

/** A final result code line -> whether it is OK, and the CME/CMS details; undefined for other lines. */
export function finalResult(line: string): { ok: boolean; cme?: CmeError } | undefined {
  const m = FINAL_RE.exec(line);
  if (!m) return undefined;
  if (m[1].toUpperCase() === 'OK') return { ok: true };
  if (!m[2]) return { ok: false };
  const rest = m[3].trim();
  return { ok: false, cme: /^\d+$/.test(rest) ? { type: m[2].toUpperCase(), code: Number(rest) } : { type: m[2].toUpperCase(), text: rest } };
}

/** The name a URC is counted under: its "+XXX" prefix, or the whole (short) line ("RING", "RDY"). */
export function urcName(line: string): string {
  const m = /^([+^$#%]?[A-Z0-9 _-]+?)(:|$)/i.exec(line);
  return (m?.[1] ?? line).slice(0, 24).toUpperCase();
}

interface Job {
  req: AtRequest;
  prefix?: string;
  lines: string[];
  timer?: NodeJS.Timeout;
  settled: boolean;
  resolve(r: AtResponse): void;
  reject(e: Error): void;
}

export function createAtSession(deps: AtSessionDeps): AtSession {
  const { log } = deps;
  const queue: Job[] = [];
  let current: Job | undefined;
  let buf = '';
  let discarding = false;
  const st: AtStats = { commands: 0, timeouts: 0, urcs: 0, urcsByName: {}, stray: 0, echoes: 0, dropped: 0 };

  const settle = (job: Job, r: AtResponse | Error) => {
    if (job.settled) return;
    job.settled = true;
    clearTimeout(job.timer);
    if (current === job) current = undefined;
    if (r instanceof Error) job.reject(r);
    else job.resolve(r);
    next();
  };

  function next(): void {
    if (current) return;
    const job = queue.shift();
    if (!job) return;
    current = job;
    st.commands++;
    job.timer = setTimeout(() => {
      st.timeouts++;
      settle(job, new AtTimeoutError(job.req.command, job.req.timeoutMs));
    }, job.req.timeoutMs);
    deps.write(`${job.req.command}\r`).catch((err: Error) => settle(job, new AtAbortedError(job.req.command, `write failed: ${err.message}`, 'write')));
  }

  function urc(line: string): void {
    st.urcs++;
    const name = urcName(line);
    st.urcsByName[name] = (st.urcsByName[name] ?? 0) + 1;
    log.debug({ urc: line, during: current?.req.command }, 'unsolicited result code');
    try {
      deps.onUrc?.(line);
    } catch (err) {
      log.error({ err, urc: line }, 'URC handler failed');
    }
  }

  function onLine(line: string): void {
    const job = current;
    if (job && line.toUpperCase() === job.req.command.trim().toUpperCase()) {
      st.echoes++;
      return;
    }
    const fin = finalResult(line);
    if (fin) {
      if (!job) {
        st.stray++;
        log.debug({ line }, 'final result code nobody waits for (late reply)');
        return;
      }
      settle(job, { command: job.req.command, ok: fin.ok, lines: job.lines, final: line, ...(fin.cme && { cme: fin.cme }) });
      return;
    }
    if (job?.prefix && line.toUpperCase().startsWith(`${job.prefix}:`) && (job.req.accept?.(line) ?? true)) {
      job.lines.push(line);
      return;
    }
    if (!job && /^AT/i.test(line)) {
      st.echoes++; // the echo of a command that already timed out
      return;
    }
    urc(line);
  }

  return {
    send(req) {
      return new Promise<AtResponse>((resolve, reject) => {
        queue.push({ req, prefix: commandPrefix(req.command), lines: [], settled: false, resolve, reject });
        next();
      });
    },
    push(chunk) {
      buf += typeof chunk === 'string' ? chunk : chunk.toString('latin1');
      let start = 0;
      for (let i = 0; i < buf.length; i++) {
        const c = buf.charCodeAt(i);
        if (c !== 13 && c !== 10) continue;
        if (discarding) discarding = false;
        else {
          const line = buf.slice(start, i).trim();
          if (line) onLine(line);
        }
        start = i + 1;
      }
      buf = buf.slice(start);
      if (buf.length > MAX_LINE) {
        st.dropped += buf.length;
        if (!discarding) log.debug({ bytes: buf.length }, 'overlong line dropped');
        discarding = true;
        buf = '';
      }
    },
    abort(reason, cause) {
      const jobs = [...(current ? [current] : []), ...queue.splice(0)];
      current = undefined;
      for (const j of jobs) {
        if (j.settled) continue;
        j.settled = true;
        clearTimeout(j.timer);
        j.reject(new AtAbortedError(j.req.command, reason, cause));
      }
    },
    reset() {
      buf = '';
      discarding = false;
    },
    stats: () => ({ ...st, urcsByName: { ...st.urcsByName } }),
  };
}
