// "Session taken over": another client connected with our client id (a cloned pole config).
// MQTT 5 brokers may say so (DISCONNECT reason 0x8E); MQTT 3.1.1 brokers, and some MQTT 5 ones
// (mosquitto 2.0.11), just close the socket: there it is a pattern, closed by the broker without
// a socket error or DISCONNECT, soon after each connect.

import type { AgentEventInput } from '../events.ts';
import type { LogLimiter } from '../log-limit.ts';
import type { Log } from '../types.ts';

export const SESSION_TAKEN_OVER = 0x8e;

/** This many short, quiet connections in a row count as a takeover (one, once a takeover was seen). */
export const SHORT_DROPS = 3;

export interface TakeoverWatch {
  /** A DISCONNECT packet from the broker; the broker's words when it means a takeover. */
  disconnect(reasonCode: number | undefined, reasonString: string | undefined): string | undefined;
  /**
   * A connection ended after `uptimeMs`; `quiet`: no socket error, no DISCONNECT, not by us.
   * `suspect`: a takeover was already seen, so the first such close is enough.
   */
  closed(uptimeMs: number, quiet: boolean, suspect: boolean): string | undefined;
}

export function createTakeoverWatch(stableMs: number): TakeoverWatch {
  let short = 0;
  return {
    disconnect(code, words) {
      if (code !== SESSION_TAKEN_OVER) return undefined;
      return words ? `${words} (reason 0x8E)` : 'session taken over (reason 0x8E)';
    },
    closed(uptimeMs, quiet, suspect) {
      if (uptimeMs >= stableMs) {
        short = 0;
        return undefined;
      }
      short = quiet ? short + 1 : 0;
      if (short < (suspect ? 1 : SHORT_DROPS)) return undefined;
      const n = short;
      short = 0;
      return `connection closed by the broker ${n} time(s) in a row within ${stableMs / 1000} s of connecting, without a reason; another client with the same client id is the usual cause`;
    },
  };
}

export interface DuplicateState {
  since: number;
  reason: string;
  takeovers: number;
  /** When the next connection attempt is due (ms since epoch). */
  retryAt?: number;
}

export interface DuplicateEpisodeDeps {
  clientId: string;
  backoffMs: number;
  stableMs: number;
  log: Log;
  limiter: LogLimiter;
  raise(e: AgentEventInput<'uplink.duplicate_id'>): void;
}

/**
 * One duplicate-id episode: raised at the first takeover (once, with the broker's words),
 * cleared after staying connected for twice the backoff, so the two clones alternating every
 * backoff do not raise and clear each time.
 */
export function createDuplicateEpisode(d: DuplicateEpisodeDeps) {
  let state: DuplicateState | undefined;
  let clearTimer: NodeJS.Timeout | undefined;
  return {
    takenOver(reason: string, reasonCode?: number): void {
      const takeovers = (state?.takeovers ?? 0) + 1;
      const first = !state;
      state = { since: state?.since ?? Date.now(), reason, takeovers };
      const t = d.limiter.take('duplicate_id');
      if (t) d.log.error({ clientId: d.clientId, reason, takeovers, backoffMs: d.backoffMs, ...t }, 'another client uses this client id (duplicate gateway id?); backing off');
      if (!first) return;
      d.raise({
        type: 'uplink.duplicate_id', severity: 'critical', state: 'raise',
        data: { clientId: d.clientId, reason, ...(reasonCode !== undefined ? { reasonCode } : {}), takeovers, backoffMs: d.backoffMs },
      });
    },
    retryAt(at: number): void {
      if (state) state.retryAt = at;
    },
    connected(): void {
      clearTimeout(clearTimer);
      if (!state) return;
      clearTimer = setTimeout(() => {
        if (!state) return;
        d.log.info({ clientId: d.clientId, takeovers: state.takeovers }, 'no session takeover for a while; duplicate client id cleared');
        state = undefined;
        d.raise({ type: 'uplink.duplicate_id', severity: 'info', state: 'clear', data: { clientId: d.clientId, recovered: true } });
      }, 2 * d.backoffMs + d.stableMs);
    },
    disconnected(): void {
      clearTimeout(clearTimer);
    },
    active: (): boolean => state !== undefined,
    state: (): DuplicateState | undefined => (state ? { ...state } : undefined),
  };
}
