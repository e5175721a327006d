// The MQTT topic tree and payloads, protocol version 1 (docs/protocol.md says the same in prose).
// Typed here so the protocol is code that the agent, tests and the fleet tool share.
import type { RecordKind } from '../types.ts';

export const PROTOCOL_VERSION = 1;

export interface Topics {
  /** Retained gateway state: birth, last will, clean stop. */
  state: string;
  /** Data uplink for one record kind. */
  up(kind: RecordKind): string;
  /** Subscription filter for commands: `{prefix}/{gw}/cmd/+`. */
  cmdFilter: string;
  /** Prefix of command topics, with the trailing slash. */
  cmdPrefix: string;
}

export function topicsFor(prefix: string, gateway: string): Topics {
  if (!prefix || /[+#]/.test(prefix) || /[+#/]/.test(gateway) || !gateway) {
    throw new Error(`invalid topic prefix or gateway id for MQTT topics: prefix=${JSON.stringify(prefix)} gateway=${JSON.stringify(gateway)}`);
  }
  const base = `${prefix.replace(/\/+$/, '')}/${gateway}`;
  return {
    state: `${base}/state`,
    up: (kind) => `${base}/up/${kind}`,
    cmdFilter: `${base}/cmd/+`,
    cmdPrefix: `${base}/cmd/`,
  };
}

/** Retained on `{prefix}/{gw}/state` when the uplink connects. Extra fields come from the agent (versions, capabilities). */
export interface BirthPayload {
  v: 1;
  online: true;
  gateway: string;
  ts: number;
  [extra: string]: unknown;
}

/** Retained on `{prefix}/{gw}/state` by the broker (last will) or by a clean stop. */
export interface OfflinePayload {
  v: 1;
  online: false;
  gateway: string;
  reason: 'lost' | 'stopped';
  /** Present for 'stopped' only: the will is composed at connect time, so its time would be wrong. */
  ts?: number;
}

/** Published on `{prefix}/{gw}/up/{kind}`: `records` holds serialized OutRecords, in outbox order. */
export interface UpBatchPayload {
  v: 1;
  gateway: string;
  records: unknown[];
}

export type CommandErrorCode = 'unknown_command' | 'bad_request' | 'failed';

/** Published to the request's responseTopic with the request's correlationData. */
export type CommandResponse = (
  | { v: 1; ok: true; result: unknown }
  | { v: 1; ok: false; error: { code: CommandErrorCode; message: string } }
) & {
  /** Echoed from a request that named its responseTopic in the body (MQTT 3.1.1 clients). */
  correlationId?: unknown;
};

/** The constant head of an up batch: records are appended by string concatenation, never re-serialized. */
export function batchHead(gateway: string): string {
  return `{"v":${PROTOCOL_VERSION},"gateway":${JSON.stringify(gateway)},"records":[`;
}

export const BATCH_TAIL = ']}';
