// Command requests from the platform: MQTT 5 request/response on `{prefix}/{gw}/cmd/{name}`.
// A handler's failure becomes an ok:false response; nothing a request does can crash the uplink.
import type { Log } from '../types.ts';
import type { CommandErrorCode, CommandResponse } from './protocol.ts';

export type CommandHandler = (request: unknown, meta: { name: string }) => Promise<unknown>;

export interface CommandRequest {
  name: string;
  payload: Buffer;
  responseTopic?: string;
  correlationData?: Buffer;
}

/** Publishes a response (QoS 1) with the request's correlation data; false when the uplink is offline. */
export type Respond = (topic: string, payload: string, correlationData?: Buffer) => boolean;

export interface Commands {
  handle(name: string, fn: CommandHandler): void;
  dispatch(req: CommandRequest, respond: Respond): Promise<void>;
}

export function createCommands(log: Log): Commands {
  const handlers = new Map<string, CommandHandler>();

  const run = async (req: CommandRequest): Promise<CommandResponse> => {
    const fn = handlers.get(req.name);
    if (!fn) return fail('unknown_command', `no handler for command "${req.name}"`);
    let request: unknown;
    if (req.payload.length > 0) {
      try {
        request = JSON.parse(req.payload.toString('utf8'));
      } catch (err) {
        return fail('bad_request', `payload is not JSON: ${(err as Error).message}`);
      }
    }
    try {
      return { v: 1, ok: true, result: (await fn(request, { name: req.name })) ?? null };
    } catch (err) {
      log.warn({ cmd: req.name, err }, 'command handler failed');
      return fail('failed', err instanceof Error ? err.message : String(err));
    }
  };

  return {
    handle(name, fn) {
      if (!name || /[+#/]/.test(name)) throw new Error(`invalid command name ${JSON.stringify(name)}`);
      handlers.set(name, fn);
    },
    async dispatch(req, respond) {
      let correlationId: unknown;
      if (!req.responseTopic) {
        // MQTT 3.1.1 has no response-topic property: the request body may name it instead.
        const body = parseBody(req.payload);
        if (typeof body?.responseTopic === 'string' && body.responseTopic && !/[+#]/.test(body.responseTopic)) {
          req = { ...req, responseTopic: body.responseTopic };
          correlationId = body.correlationId;
        }
      }
      if (!req.responseTopic) {
        // Without a response topic nobody waits for an answer; running it anyway would make
        // fire-and-forget side effects possible that the protocol does not promise.
        log.warn({ cmd: req.name }, 'command without responseTopic dropped');
        return;
      }
      const started = Date.now();
      const res: CommandResponse = await run(req);
      if (correlationId !== undefined) res.correlationId = correlationId;
      let payload: string;
      try {
        payload = JSON.stringify(res);
      } catch (err) {
        payload = JSON.stringify(fail('failed', `result is not serializable: ${(err as Error).message}`));
      }
      const sentOk = respond(req.responseTopic, payload, req.correlationData);
      log.debug({ cmd: req.name, ok: res.ok, ms: Date.now() - started, responded: sentOk }, 'command done');
      if (!sentOk) log.warn({ cmd: req.name }, 'command response not sent: uplink offline');
    },
  };
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
