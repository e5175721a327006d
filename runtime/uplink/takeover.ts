// "Session taken over": another client connected with our client id (a cloned pole config).
// MQTT 5 brokers may say so (DISCONNECT reason 0x8E); MQTT 3.1.1 brokers, and some MQTT 5 ones
// (mosquitto 2.0.11), just close the socket: there it is a pattern, closed by the broker without
// a socket error or DISCONNECT, soon after each connect.

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
