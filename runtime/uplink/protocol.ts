// The MQTT topic tree and payloads, protocol version 1 (docs/protocol.md says the same in prose).
// Typed here so the protocol is code that the agent, tests and the fleet tool share.
import type { RecordKind } from '../types.ts';

export const PROTOCOL_VERSION = 1;

export interface Topics {
  /** Retained gateway state: birth, last will, clean stop. */
  state: string;
  /** Data uplink for one record kind. */
  up(kind: RecordKind): string;
  /**
   * Subscription filter for commands: `{prefix}/{gw}/cmd/#`. Multi-level because some brokers
   * (RabbitMQ's MQTT plugin) turn the dot of `cmd/flows.deploy` into a level separator: the
   * gateway reads `cmd/flows/deploy` as the same command (commandName).
   */
  cmdFilter: string;
  /** Prefix of command topics, with the trailing slash. */
  cmdPrefix: string;
}

/** The command a topic after `cmdPrefix` names: `flows.deploy` and `flows/deploy` are one. */
export function commandName(rest: string): string {
  return rest.split('/').join('.');
}

export function topicsFor(prefix: string, gateway: string): Topics {
  if (!prefix || /[+#]/.test(prefix) || /[+#/]/.test(gateway) || !gateway) {
    throw new Error(`invalid topic prefix or gateway id for MQTT topics: prefix=${JSON.stringify(prefix)} gateway=${JSON.stringify(gateway)}`);
  }
  const base = `${prefix.replace(/\/+$/, '')}/${gateway}`;
  return {
    state: `${base}/state`,
    up: (kind) => `${base}/up/${kind}`,
    cmdFilter: `${base}/cmd/#`,
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

/**
 * Codes the dispatcher itself answers with, and the agent's write codes. A service's handler may
 * throw its own lowercase snake_case code (a CommandError or any error with such a `code`): it
 * reaches the platform as is, so the union is open to those.
 */
export const COMMAND_ERROR_CODES = [
  'unknown_command', 'bad_request', 'failed', 'timeout', 'busy', 'too_large',
  'unknown_device', 'device_unavailable', 'not_writable', 'write_failed',
  // Signed (management) commands, refused before their handler runs (docs/provisioning.md):
  'unsigned', 'bad_signature', 'expired', 'replayed', 'stale_version', 'wrong_gateway', 'wrong_command', 'not_enrolled',
] as const;
export type KnownCommandErrorCode = (typeof COMMAND_ERROR_CODES)[number];
export type CommandErrorCode = KnownCommandErrorCode | (string & {});
export const COMMAND_ERROR_CODE_RE = /^[a-z][a-z0-9]*(_[a-z0-9]+)*$/;

/** Longest response topic the gateway publishes to (bytes); real platforms use far shorter ones. */
export const MAX_RESPONSE_TOPIC_BYTES = 512;

/**
 * Why a request's response topic must not be published to, or undefined when it is fine.
 * Publishing to a wildcard (or otherwise invalid) topic makes the broker drop the connection,
 * so one hostile request could keep a gateway offline.
 */
export function responseTopicProblem(topic: unknown): string | undefined {
  if (typeof topic !== 'string') return `not a string (${topic === null ? 'null' : typeof topic})`;
  if (topic === '') return 'empty';
  if (Buffer.byteLength(topic) > MAX_RESPONSE_TOPIC_BYTES) return `longer than ${MAX_RESPONSE_TOPIC_BYTES} bytes`;
  if (/[+#]/.test(topic)) return 'contains a wildcard (+ or #)';
  if (/[\u0000-\u001f\u007f\ufffd]/.test(topic)) return 'contains a control character or invalid UTF-8';
  if (/[\ud800-\udfff]/.test(topic.replace(/[\ud800-\udbff][\udc00-\udfff]/g, ''))) return 'contains a lone surrogate (not valid UTF-8)';
  if (topic.startsWith('$')) return 'starts with "$" (reserved for the broker)';
  return undefined;
}

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

// ---- Event types the agent raises (records of kind `event`; docs/protocol.md, "Event types").

/** Data-quality events of one point (runtime/quality.ts); fields depend on the check. */
export interface PointQualityData {
  value?: number;
  previous?: number;
  min?: number;
  max?: number;
  limit?: number;
  limitMs?: number;
  silentMs?: number;
  forMs?: number;
}

export type DeviceOfflineData =
  | { silentMs: number; offlineAfterMs: number; lastSeen: number | null }
  | { offlineMs: number; silentMs: number };
/** `kind` is a driver fault kind: timeout, crc, exception, io, protocol, config. */
export interface DeviceFaultRaise { driver: string; kind: string; error?: string; failures: number }
export interface DeviceFaultClear { driver: string; recovered: true; offlineMs?: number; failures: number }

/** Each agent event type and its `data`. A driver may add fields of its own where an index signature allows it. */
export interface EventPayloads {
  'device.offline': DeviceOfflineData;
  'device.fault': DeviceFaultRaise | DeviceFaultClear;
  'device.error': { driver: string; kind: string; message: string; [detail: string]: unknown };
  'device.point_fault': { driver: string; recovered?: true; error?: string; [detail: string]: unknown };
  'point.out_of_range': PointQualityData;
  'point.spike': PointQualityData;
  'point.flatline': PointQualityData;
  'point.stale': PointQualityData;
  'outbox.dropped': { count: number; reason: string; bytes: number };
  'outbox.disk_full':
    | { errcode?: number; error: string; held: number; heldBytes: number; fsFreeBytes?: number }
    | { depth: number; fsFreeBytes?: number; flaps?: number };
  'outbox.dead_letter': { count: number; fromSeq: number; toSeq: number; reason: string; total: number };
  'uplink.duplicate_id': { clientId: string; reason: string; reasonCode?: number; takeovers: number; backoffMs: number } | { clientId: string; recovered: true };
}

export type EventType = keyof EventPayloads;
export type EventData<T extends EventType> = EventPayloads[T];

/** Every agent event type, at run time (the doc test compares it with docs/protocol.md). */
export const EVENT_TYPES = [
  'device.offline', 'device.fault', 'device.error', 'device.point_fault',
  'point.out_of_range', 'point.spike', 'point.flatline', 'point.stale',
  'outbox.dropped', 'outbox.disk_full', 'outbox.dead_letter',
  'uplink.duplicate_id',
] as const satisfies readonly EventType[];
// A type added to EventPayloads but not to EVENT_TYPES fails to compile here.
const everyType: [Exclude<EventType, (typeof EVENT_TYPES)[number]>] extends [never] ? true : false = true;
void everyType;

/** Namespaces of the agent's own types; a user-defined type (rules' `event:`, flows) lives outside them. */
export const AGENT_EVENT_NAMESPACES = ['device', 'point', 'outbox', 'uplink', 'agent'] as const;
export type AgentEventNamespace = (typeof AGENT_EVENT_NAMESPACES)[number];

/** True for a type in one of the agent's own namespaces, which config and flows may not emit. */
export function isAgentEventType(type: string): boolean {
  const dot = type.indexOf('.');
  return dot > 0 && (AGENT_EVENT_NAMESPACES as readonly string[]).includes(type.slice(0, dot));
}
/** A type from config or flows, e.g. "threshold" or "air.pm25_high": any string not in an agent namespace. */
export type UserEventType = string;
