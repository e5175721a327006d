// The provisioning service (gateway side): loads the identity written by `wayside provision`,
// reports it in health, verifies signed commands from the platform, and serves:
//   versions.get    unsigned read: what runs here and the last accepted version per command
//   agent.restart   signed: answers, then has the agent stop cleanly and exit 0 (systemd's
//                   Restart=always starts it again)
//   logs.tail       signed (logs carry operational detail): the agent's last log lines, from the
//                   in-memory ring the CLI keeps (ctx.logs), `{ lines: N }` up to 500
// It also puts the enrolled tags into the birth message (the platform selects gateways by them).
// Later commands (deploys) wrap their handlers with `verifyThen` so they only ever see payloads
// of envelopes signed by the pinned platform key, for this gateway, fresh and not replayed.
// runtime/ never imports this; the composition root (main.ts) adds it to the services.
import { WAYSIDE_VERSION } from '../runtime/agent.ts';
import { emitEvent } from '../runtime/events.ts';
import { CommandError } from '../runtime/uplink/index.ts';
import type { Service, ServiceCommand, ServiceCtx, ServiceHealth } from '../runtime/service.ts';
import { PROTOCOL_VERSION } from '../runtime/uplink/protocol.ts';
import { provisioningLimits } from './config.ts';
import type { ProvisioningErrorCode } from './errors.ts';
import { openStore, type IdentityDoc, type ProvisioningStore } from './store.ts';
import { createVerifier, type AuditEvent, type SignedHandler, type Verifier } from './verify.ts';

export interface ProvisioningDeps {
  /**
   * Called after an accepted `agent.restart` was answered. Default: SIGTERM to this process,
   * which the CLI turns into a clean agent stop (the uplink delivers the response and says
   * goodbye) and exit code 0.
   */
  restart?(): void;
  /** Delay between answering `agent.restart` and restart() (default 200 ms). */
  restartDelayMs?: number;
}

/** The `provisioning` health section. */
export interface ProvisioningHealth {
  enrolled: boolean;
  gatewayId?: string;
  site?: string;
  tags?: Record<string, string>;
  platformKeyFingerprint?: string;
  enrolledAt?: number;
  method?: 'offline' | 'online';
  /** Signed commands accepted since start. */
  accepted: number;
  /** Refusals since start, by code. */
  refused: Partial<Record<ProvisioningErrorCode, number>>;
  lastError?: string;
}

/** Most lines `logs.tail` answers (the ring holds 500). */
export const LOGS_TAIL_MAX = 500;

/** The commands this service serves only for a signed envelope. */
export const SIGNED_SERVICE_COMMANDS = ['agent.restart', 'logs.tail'] as const;

export interface ProvisioningService extends Service {
  /** Wraps a handler so it runs only for an accepted envelope (see verify.ts); usable before start. */
  verifyThen<P = unknown>(handler: SignedHandler<P>): ServiceCommand;
  /** The enrolled identity, undefined before enrollment (or before start). */
  identity(): IdentityDoc | undefined;
}

export function createProvisioningService(deps: ProvisioningDeps = {}): ProvisioningService {
  let ctx: ServiceCtx | undefined;
  let store: ProvisioningStore | undefined;
  let verifier: Verifier | undefined;
  let lastError: string | undefined;
  let restartTimer: NodeJS.Timeout | undefined;

  const identity = (): IdentityDoc | undefined => {
    try {
      return store?.identity();
    } catch (err) {
      lastError = (err as Error).message;
      return undefined;
    }
  };

  const verifyThen = <P>(handler: SignedHandler<P>): ServiceCommand => async (request, meta) => {
    if (!verifier) throw new Error('provisioning service is not started');
    return verifier.verifyThen(handler)(request, meta);
  };

  const audit = (e: AuditEvent) => {
    if (!ctx) return;
    if (e.type === 'audit.refused') {
      emitEvent(ctx, { type: 'audit.refused', severity: 'warning', data: e.data });
      ctx.log.warn({ ...e.data }, 'signed command refused');
    } else {
      emitEvent(ctx, { type: 'audit.accepted', severity: 'info', data: e.data });
      ctx.log.info({ ...e.data }, 'signed command accepted');
    }
  };

  return {
    name: 'provisioning',
    async start(c) {
      ctx = c;
      store = openStore(c.state);
      verifier = createVerifier({
        store,
        gatewayId: () => c.config.gateway.id,
        limits: () => provisioningLimits(c.config),
        clock: c.clock,
        audit,
      });
      const id = identity();
      if (lastError) c.log.error({ err: lastError }, 'provisioning identity unreadable: signed commands are refused');
      else if (!id) c.log.info('not enrolled: signed commands are refused until `wayside provision`');
      else c.log.info({ gateway: id.gatewayId, platformKey: id.platformKeyFingerprint, method: id.method }, 'identity loaded');
    },
    async stop() {
      clearTimeout(restartTimer);
    },
    health(): ServiceHealth {
      const id = identity();
      const st = verifier?.stats() ?? { accepted: 0, refused: {} };
      const section: ProvisioningHealth = id
        ? {
            enrolled: true, gatewayId: id.gatewayId, ...(id.site !== undefined ? { site: id.site } : {}), tags: id.tags,
            platformKeyFingerprint: id.platformKeyFingerprint, enrolledAt: id.enrolledAt, method: id.method, ...st,
          }
        : { enrolled: false, ...st };
      if (lastError) section.lastError = lastError;
      const problems: string[] = [];
      if (lastError) problems.push(`provisioning: ${lastError}`);
      if (id && ctx && id.gatewayId !== ctx.config.gateway.id) {
        problems.push(`provisioning: enrolled as "${id.gatewayId}" but gateway.id is "${ctx.config.gateway.id}": signed commands for this gateway are refused (wrong_gateway)`);
      }
      return { section, problems };
    },
    birth() {
      const id = identity();
      return id ? { tags: id.tags } : {};
    },
    commands() {
      return {
        'versions.get': async () => {
          const id = identity();
          return {
            v: 1,
            gateway: ctx?.config.gateway.id,
            versions: { wayside: WAYSIDE_VERSION, node: process.versions.node, protocol: PROTOCOL_VERSION },
            enrolled: !!id,
            ...(id ? { bundleVersion: id.bundleVersion, platformKeyFingerprint: id.platformKeyFingerprint } : {}),
            commands: store?.replay.versions() ?? {},
          };
        },
        'agent.restart': verifyThen(async (payload, meta) => {
          const delay = deps.restartDelayMs ?? 200;
          const reason = payload && typeof payload === 'object' && typeof (payload as { reason?: unknown }).reason === 'string' ? (payload as { reason: string }).reason.slice(0, 200) : undefined;
          ctx?.log.warn({ version: meta.envelope.version, nonce: meta.envelope.nonce, reason }, 'restart requested by the platform');
          clearTimeout(restartTimer);
          restartTimer = setTimeout(() => (deps.restart ?? (() => process.kill(process.pid, 'SIGTERM')))(), delay);
          return { restarting: true, inMs: delay };
        }),
        'logs.tail': verifyThen(async (payload) => {
          const p = (payload && typeof payload === 'object' ? payload : {}) as { lines?: unknown };
          if (p.lines !== undefined && (!Number.isSafeInteger(p.lines) || (p.lines as number) < 1)) {
            throw new CommandError('bad_request', `lines: expected an integer 1-${LOGS_TAIL_MAX}, got ${JSON.stringify(p.lines)}`);
          }
          if (!ctx?.logs) throw new CommandError('logs_unavailable', 'this agent keeps no log lines in memory (it was not started by `wayside run`)');
          const want = Math.min((p.lines as number | undefined) ?? 100, LOGS_TAIL_MAX);
          // The answer must fit in one MQTT message: newest lines first until the budget is spent.
          const budget = Math.max(4096, ctx.config.uplink.maxPayloadBytes - 4096);
          const all = ctx.logs(want);
          let bytes = 0;
          let from = all.length;
          const cost = (line: string) => Buffer.byteLength(JSON.stringify(line)) + 1;
          while (from > 0 && bytes + cost(all[from - 1]) <= budget) bytes += cost(all[--from]);
          return { lines: all.slice(from), ...(from > 0 ? { truncated: from } : {}) };
        }),
      };
    },
    verifyThen,
    identity,
  };
}
