// "Session taken over": another client connected with our client id (a cloned pole config).
// MQTT 5 brokers say so (DISCONNECT reason 0x8E); MQTT 3.1.1 brokers just close the socket, so
// there it is a pattern: closed by the broker, without a socket error, soon after each connect.

export const SESSION_TAKEN_OVER = 0x8e;

/** 3.1.1: this many short, error-free connections in a row count as a takeover. */
export const SHORT_DROPS = 3;

export interface TakeoverWatch {
  /** A DISCONNECT packet from the broker; the broker's words when it means a takeover. */
  disconnect(reasonCode: number | undefined, reasonString: string | undefined): string | undefined;
  /** A connection ended after `uptimeMs`; `quiet`: no socket error, no DISCONNECT, not by us. */
  closed(uptimeMs: number, quiet: boolean): string | undefined;
}

export function createTakeoverWatch(protocolVersion: 4 | 5, stableMs: number): TakeoverWatch {
  let short = 0;
  return {
    disconnect(code, words) {
      if (code !== SESSION_TAKEN_OVER) return undefined;
      return words ? `${words} (reason 0x8E)` : 'session taken over (reason 0x8E)';
    },
    closed(uptimeMs, quiet) {
      if (uptimeMs >= stableMs || protocolVersion === 5) {
        short = 0;
        return undefined;
      }
      short = quiet ? short + 1 : 0;
      if (short < SHORT_DROPS) return undefined;
      short = 0;
      return `connection closed by the broker ${SHORT_DROPS} times in a row within ${stableMs / 1000} s of connecting, without a reason (MQTT 3.1.1); another client with the same client id is the usual cause`;
    },
  };
}
