// Command requests from the platform: MQTT 5 request/response on `{prefix}/{gw}/cmd/{name}`.
// A handler's failure becomes an ok:false response; nothing a request does can crash the uplink,
// make it publish where the broker would drop the connection, or flood the log.
import type { Log } from '../types.ts';
import type { LogLimiter } from '../log-limit.ts';
import { COMMAND_ERROR_CODE_RE, responseTopicProblem, type CommandErrorCode, type CommandResponse } from './protocol.ts';

export type CommandHandler = (request: unknown, meta: { name: string; signal: AbortSignal }) => Promise<unknown>;

/** A handler's expected failure: the code reaches the platform, the log gets no stack trace. */
export class CommandError extends Error {
  readonly code: CommandErrorCode;
  constructor(code: CommandErrorCode, message: string) {
    if (!COMMAND_ERROR_CODE_RE.test(code)) throw new TypeError(`CommandError code must be lowercase snake_case, got ${JSON.stringify(code)}`);
    super(message);
    this.name = 'CommandError';
    this.code = code;
  }
}

export interface CommandLimits {
  /** Handlers running at once; a request beyond gets `busy`. */
  maxConcurrent: number;
  /** A handler that has not settled by then is answered `timeout` (and told through its AbortSignal). */
  timeoutMs: number;
  /** Largest request payload; a larger one gets `too_large` without running. */
  maxRequestBytes: number;
}

export const DEFAULT_COMMAND_LIMITS: CommandLimits = { maxConcurrent: 8, timeoutMs: 30_000, maxRequestBytes: 64 * 1024 };

export interface CommandRequest {
  name: string;
  payload: Buffer;
  /** The MQTT 5 property; absent on MQTT 3.1.1, where the body may name it. */
  responseTopic?: string;
  correlationData?: Buffer;
}

/** Publishes a response (QoS 1) with the request's correlation data; false when the uplink is offline. */
export type Respond = (topic: string, payload: string, correlationData?: Buffer) => boolean;

export interface CommandStats {
  received: number;
  ok: number;
  /** Answered ok:false (any code, including busy, timeout and too_large). */
  failed: number;
  /** Not answered: no or invalid response topic. */
  refused: number;
  busy: number;
  timeouts: number;
  /** Handlers still running after their timeout was answered. */
  abandoned: number;
}

export interface Commands {
  /** `own`: this command's timeout / request cap instead of the uplink's (a request cap above it cannot arrive). */
  handle(name: string, fn: CommandHandler, own?: Partial<Pick<CommandLimits, 'timeoutMs' | 'maxRequestBytes'>>): void;
  /** `maxResponseBytes`: the connection's payload limit; a larger response becomes `too_large`. */
  dispatch(req: CommandRequest, respond: Respond, maxResponseBytes: number): Promise<void>;
  stats(): CommandStats;
}

export function createCommands(log: Log, limits: CommandLimits, limiter: LogLimiter): Commands {
  const handlers = new Map<string, { fn: CommandHandler; timeoutMs: number; maxRequestBytes: number }>();
  const stats: CommandStats = { received: 0, ok: 0, failed: 0, refused: 0, busy: 0, timeouts: 0, abandoned: 0 };
  let running = 0;

  /** A warning at most a few times a minute per kind, with what was held back. */
  const audit = (kind: string, fields: Record<string, unknown>, msg: string, level: 'warn' | 'info' = 'warn') => {
    const t = limiter.take(kind);
    if (t) log[level]({ ...fields, ...t }, msg);
  };

  const runHandler = async (fn: CommandHandler, timeoutMs: number, req: CommandRequest, request: unknown): Promise<CommandResponse> => {
    const ac = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    let settled = false;
    running++;
    const work = Promise.resolve()
      .then(() => fn(request, { name: req.name, signal: ac.signal }))
      .finally(() => {
        settled = true;
        if (timedOut) stats.abandoned--;
        else running--;
      });
    const expired = new CommandError('timeout', `command "${req.name}" did not finish within ${timeoutMs} ms`);
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(expired), timeoutMs);
    });
    try {
      return { v: 1, ok: true, result: (await Promise.race([work, timeout])) ?? null };
    } catch (err) {
      if (err === expired && !settled) {
        // The slot is freed now so one hung device cannot block health and ping; the handler is told.
        timedOut = true;
        running--;
        stats.timeouts++;
        stats.abandoned++;
        ac.abort(err);
        work.catch(() => {}); // its late failure has nobody to answer
      }
      return failure(req.name, err);
    } finally {
      clearTimeout(timer);
    }
  };

  const failure = (cmd: string, err: unknown): CommandResponse => {
    const code = typedCode(err);
    const message = err instanceof Error ? err.message : String(err);
    if (code) {
      audit(`typed:${code}`, { cmd, code, err: message }, 'command failed', 'info');
      return fail(code, message);
    }
    audit('handler_error', { cmd, err }, 'command handler failed');
    return fail('failed', message);
  };

  const run = async (req: CommandRequest): Promise<CommandResponse> => {
    const h = handlers.get(req.name);
    if (!h) return fail('unknown_command', `no handler for command "${req.name}"`);
    if (req.payload.length > h.maxRequestBytes) {
      return fail('too_large', `request is ${req.payload.length} bytes, the limit is ${h.maxRequestBytes}`);
    }
    if (running >= limits.maxConcurrent) {
      stats.busy++;
      return fail('busy', `${running} commands are running, the limit is ${limits.maxConcurrent}; retry later`);
    }
    let request: unknown;
    if (req.payload.length > 0) {
      try {
        request = JSON.parse(req.payload.toString('utf8'));
      } catch (err) {
        return fail('bad_request', `payload is not JSON: ${(err as Error).message}`);
      }
    }
    return runHandler(h.fn, h.timeoutMs, req, request);
  };

  return {
    handle(name, fn, own = {}) {
      if (!name || /[+#/]/.test(name)) throw new Error(`invalid command name ${JSON.stringify(name)}`);
      const timeoutMs = own.timeoutMs ?? limits.timeoutMs;
      const maxRequestBytes = own.maxRequestBytes ?? limits.maxRequestBytes;
      if (!(timeoutMs > 0) || !(maxRequestBytes >= 0)) throw new Error(`command "${name}": timeoutMs must be > 0 and maxRequestBytes >= 0 (got ${timeoutMs}, ${maxRequestBytes})`);
      handlers.set(name, { fn, timeoutMs, maxRequestBytes });
    },
    async dispatch(req, respond, maxResponseBytes) {
      stats.received++;
      let responseTopic: unknown = req.responseTopic;
      let correlationId: unknown;
      if (responseTopic === undefined) {
        // MQTT 3.1.1 has no response-topic property: the request body may name it instead.
        const body = req.payload.length <= limits.maxRequestBytes ? parseBody(req.payload) : undefined;
        if (body && 'responseTopic' in body) {
          responseTopic = body.responseTopic;
          correlationId = body.correlationId;
        }
      }
      if (responseTopic === undefined) {
        // Nobody waits for an answer; running it anyway would allow fire-and-forget side effects
        // the protocol does not promise.
        stats.refused++;
        audit('no_response_topic', { cmd: req.name }, 'command without responseTopic dropped');
        return;
      }
      const problem = responseTopicProblem(responseTopic);
      if (problem) {
        stats.refused++;
        const shown = typeof responseTopic === 'string' ? responseTopic.slice(0, 80) : responseTopic;
        audit('bad_response_topic', { cmd: req.name, responseTopic: shown, problem }, 'command refused: invalid response topic');
        return;
      }
      const topic = responseTopic as string;
      const started = Date.now();
      const res = await run(req);
      if (correlationId !== undefined) res.correlationId = correlationId;
      let payload = serialize(res);
      const bytes = Buffer.byteLength(payload);
      if (bytes > maxResponseBytes) {
        payload = serialize({ ...fail('too_large', `response is ${bytes} bytes, the connection allows ${maxResponseBytes}`), ...(correlationId !== undefined ? { correlationId } : {}) });
      }
      const ok = res.ok && bytes <= maxResponseBytes;
      if (ok) stats.ok++;
      else stats.failed++;
      const sentOk = respond(topic, payload, req.correlationData);
      log.debug({ cmd: req.name, ok, ms: Date.now() - started, responded: sentOk }, 'command done');
      if (!sentOk) audit('response_offline', { cmd: req.name }, 'command response not sent: uplink offline');
    },
    stats: () => ({ ...stats }),
  };
}

/** The code of an expected failure: a CommandError, or any error with a lowercase snake_case `code` (the agent's WriteError). */
function typedCode(err: unknown): CommandErrorCode | undefined {
  if (!(err instanceof Error)) return undefined;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && code.length <= 64 && COMMAND_ERROR_CODE_RE.test(code) ? code : undefined;
}

function serialize(res: CommandResponse): string {
  try {
    return JSON.stringify(res);
  } catch (err) {
    return JSON.stringify({ ...fail('failed', `result is not serializable: ${(err as Error).message}`), correlationId: res.correlationId });
  }
}

function parseBody(payload: Buffer): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(payload.toString('utf8'));
    return v && typeof v === 'object' ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function fail(code: CommandErrorCode, message: string): CommandResponse {
  return { v: 1, ok: false, error: { code, message } };
}
