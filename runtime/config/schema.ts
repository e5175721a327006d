// The config file's schema, built from the driver registry so each driver's device fields are
// validated (and autocompleted in editors through the generated JSON Schema). This file says
// what a valid file looks like; resolve.ts applies cross-field checks, defaults that depend on
// other fields, paths and secrets; loader.ts turns issues into `file:line path: message`.
import { z } from 'zod';
import type { DriverRegistry } from '../drivers.ts';
import type { Severity } from '../types.ts';
import { about, bool, expected, id, int, MISSING, num, oneOf, section, show, text } from './fields.ts';
import { secret } from './secrets.ts';
import { AGENT_EVENT_NAMESPACES, isAgentEventType } from '../uplink/protocol.ts';
import { duration, size } from './units.ts';

export type PublishMode = 'summaries' | 'raw' | 'both';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
export type ClockTrust = 'auto' | 'ntp' | 'always';

// ---- resolved config (what loadConfig returns): durations in ms, sizes in bytes, absolute paths

export interface OutboxConfig {
  /** Absolute path of the SQLite file. */
  path: string;
  maxBytes: number;
  maxAge: number;
  whenFull: 'drop-oldest' | 'drop-newest';
  commitInterval: number;
  memoryMaxBytes: number;
}

export interface TlsConfig {
  /** Absolute paths; the loader checked that the files exist. */
  ca?: string;
  cert?: string;
  key?: string;
  keyPassphrase?: string;
  rejectUnauthorized: boolean;
  servername?: string;
}

interface UplinkCommon {
  clientId: string;
  username?: string;
  password?: string;
  tls?: TlsConfig;
  topicPrefix: string;
  protocolVersion: 4 | 5;
  keepalive: number;
  maxBatchRecords: number;
  maxPayloadBytes: number;
  inflight: number;
  reconnect: { min: number; max: number };
  connectTimeout: number;
  commands: { maxConcurrent: number; timeout: number; maxRequestBytes: number };
  duplicateBackoff: number;
  /** Refusals of one record by the broker before it is set aside (dead letter). */
  maxRefusals: number;
}
/** `url` is guaranteed when enabled; check `enabled` first and TypeScript knows it. */
export type UplinkConfig = UplinkCommon & ({ enabled: true; url: string } | { enabled: false; url?: string });

/** Data-quality checks of one point (drivers/common health loop, runtime/quality.ts). */
export interface PointChecks {
  /** Readings outside [min, max] raise `point.out_of_range`. */
  min?: number;
  max?: number;
  /** A jump larger than this between consecutive readings raises `point.spike`. */
  spike?: number;
  /** ms the value may stay exactly the same before `point.flatline` is raised. */
  flatline?: number;
  /** ms without a new reading before `point.stale` is raised. */
  stale?: number;
}

export interface PointOverride {
  publish: PublishMode;
  window: number;
  checks?: PointChecks;
}

export interface FlowsUser {
  username: string;
  /** bcrypt hash ($2a$/$2b$/$2y$). */
  password: string;
  permissions: '*' | 'read';
}

export interface FlowsConfig {
  /** 'auto': load Node-RED only when the gateway has flows or the editor is on. */
  enabled: boolean | 'auto';
  editor: { enabled: boolean; path: string; users: FlowsUser[] };
  /** Encrypts flow credentials; when absent a random one is kept in <stateDir>/secrets/. */
  credentialSecret?: string;
  /** Root of the HTTP-in nodes' endpoints. */
  httpNodeRoot: string;
}

export interface DeviceConfig {
  id: string;
  driver: string;
  enabled: boolean;
  publish: PublishMode;
  window: number;
  offlineAfter: number;
  /** Only the points listed in the file, each with every field filled in. */
  perPoint: Record<string, PointOverride>;
  /** Driver-specific fields, as parsed by the driver's schema. */
  [k: string]: unknown;
}

export interface RuleConfig {
  id: string;
  /** "device/point", the device is one of `devices`. */
  point: string;
  above?: number;
  below?: number;
  hysteresis: number;
  /** ms the condition must hold before raise and before clear. */
  for: number;
  severity: Severity;
  event: string;
}

export interface WaysideConfig {
  version: 1;
  gateway: { id: string; site?: string; stateDir: string };
  log: { level: LogLevel };
  http: { enabled: boolean; host: string; port: number };
  clock: { trust: ClockTrust };
  outbox: OutboxConfig;
  uplink: UplinkConfig;
  defaults: { publish: PublishMode; window: number; offlineAfter: number; maxPointsPerDevice: number };
  devices: DeviceConfig[];
  rules: RuleConfig[];
  flows: FlowsConfig;
}

// ---- schema of the file

const PUBLISH = ['summaries', 'raw', 'both'] as const;
const POINT_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
export const POINT_REF_RE = /^([a-z0-9][a-z0-9._-]{0,63})\/([A-Za-z0-9][A-Za-z0-9._-]{0,127})$/;

const window = () => duration('1s', '1h');
const offlineAfter = () => duration('1s', '30d');
const publish = () => oneOf(PUBLISH);

/** Device fields every driver shares. `driver` is added per driver as a literal. */
function commonDeviceShape() {
  return {
    id: id().describe('device id, unique on this gateway; used in point names and MQTT topics'),
    enabled: bool().default(true).describe('false keeps the device in the file but does not start it'),
    publish: publish().optional().describe('what goes up for this device (default: defaults.publish)'),
    window: about(window(), 'summary window (default: defaults.window)').optional(),
    offlineAfter: about(offlineAfter(), 'no reading for this long -> device offline event (default: defaults.offlineAfter)').optional(),
    perPoint: z
      .record(
        z.string({ error: expected('a point name') }).regex(POINT_NAME_RE),
        section({
          publish: publish().optional(),
          window: window().optional(),
          checks: section({
            min: num().optional().describe('lowest plausible value; below it raises point.out_of_range'),
            max: num().optional().describe('highest plausible value; above it raises point.out_of_range'),
            spike: num('a number > 0').positive().optional().describe('largest plausible change between consecutive readings'),
            flatline: about(duration('1s', '30d'), 'the exact same value for this long raises point.flatline').optional(),
            stale: about(duration('1s', '30d'), 'no reading of this point for this long raises point.stale').optional(),
          })
            .optional()
            .describe('data-quality checks of this point'),
        }),
        {
          error: (iss) =>
            iss.code === 'invalid_key'
              ? `invalid point name ${show(iss.input)}: expected letters, digits, ".", "_" or "-"`
              : expected('a mapping of point name to { publish, window }')(iss),
        },
      )
      .optional()
      .describe('per-point overrides of publish and window'),
  };
}

/** A device as the schema outputs it: optional overrides still unset, driver fields loose. */
export interface RawDevice {
  id: string;
  driver: string;
  enabled: boolean;
  publish?: PublishMode;
  window?: number;
  offlineAfter?: number;
  perPoint?: Record<string, { publish?: PublishMode; window?: number; checks?: PointChecks }>;
  [k: string]: unknown;
}

function deviceSchema(registry: DriverRegistry): z.ZodType<RawDevice> {
  const common = commonDeviceShape();
  const names = registry.list().map((d) => d.name);
  const options = registry.list().map((def) => {
    for (const k of Object.keys(def.schema.shape)) {
      if (k in common || k === 'driver') throw new Error(`driver "${def.name}": its schema redefines the common device field "${k}"`);
    }
    const shape = section({ ...def.schema.shape, ...common, driver: z.literal(def.name).describe(def.description) });
    const checked = def.check
      ? shape.superRefine((device, ctx) => {
          for (const issue of def.check!(device as never)) ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message });
        })
      : shape;
    return checked.describe(`${def.name}: ${def.description}`);
  });
  // The union's own error is the one an operator sees for a missing or misspelt driver,
  // instead of zod's "no matching discriminator".
  const unknownDriver = (driver: unknown): string =>
    driver === undefined ? MISSING : `unknown driver ${show(driver)} (known: ${names.length ? names.join(', ') : 'none registered'})`;
  const driverError = (iss: { code?: string; input?: unknown }): string | undefined => {
    if (iss.code === 'unrecognized_keys') return undefined;
    const input = iss.input;
    if (input === null || typeof input !== 'object' || Array.isArray(input)) return expected('a mapping')(iss);
    return unknownDriver((input as Record<string, unknown>).driver);
  };
  if (options.length === 0) {
    // Nothing registered: every device names an unknown driver.
    const never = z.never({ error: (iss) => unknownDriver(iss.input) });
    return z.object({ driver: never }, { error: driverError }) as unknown as z.ZodType<RawDevice>;
  }
  const union = z.discriminatedUnion('driver', options as unknown as [z.ZodObject, ...z.ZodObject[]], { error: driverError });
  return union as unknown as z.ZodType<RawDevice>;
}

function ruleSchema() {
  return section({
    id: z
      .string({ error: expected('a rule id of letters, digits, ".", "_", "-", ":" or "/"') })
      .regex(/^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$/)
      .optional()
      .describe('default: "<device>/<point>:above", ":below" or ":outside"'),
    point: z
      .string({ error: expected('"device/point", like "pole-sim/pm25"') })
      .regex(POINT_REF_RE)
      .describe('"device/point"; the device must be listed in devices'),
    above: num().optional().describe('raise when the value goes above this'),
    below: num().optional().describe('raise when the value goes below this'),
    hysteresis: num('a number >= 0').min(0).default(0).describe('clear only once the value is back past the threshold by this much'),
    for: about(duration('0s', '1d'), 'the condition must hold this long before raise (and before clear)').prefault('0s'),
    severity: oneOf(['info', 'warning', 'critical']).default('warning'),
    event: z
      .string({ error: expected('an event type of lowercase letters, digits, ".", "_" or "-"') })
      .regex(/^[a-z0-9][a-z0-9._-]{0,127}$/)
      .refine((t) => !isAgentEventType(t), { error: `expected a type outside the agent's own namespaces (${AGENT_EVENT_NAMESPACES.map((n) => n + '.').join(', ')}), like "air.pm25_high"` })
      .default('threshold')
      .describe('event type, like "air.pm25_high"'),
  });
}

function uplinkSchema() {
  return section({
    enabled: bool().default(true).describe('false runs the gateway without a platform; then url is not needed'),
    url: z
      .string({ error: expected('a URL with scheme mqtt, mqtts, ws or wss, like "mqtts://platform.example:8883"') })
      .regex(/^(mqtts?|wss?):\/\/[^\s/]+(\/\S*)?$/)
      .optional()
      .describe('broker URL (mqtt, mqtts, ws, wss); required when enabled'),
    clientId: text().max(256).optional().describe('MQTT client id (default: gateway.id)'),
    username: text().optional(),
    password: secret().optional(),
    tls: section({
      ca: text().optional().describe('CA bundle (PEM) file'),
      cert: text().optional().describe('client certificate (PEM) file'),
      key: text().optional().describe('client private key (PEM) file'),
      keyPassphrase: secret().optional(),
      rejectUnauthorized: bool().default(true),
      servername: text().optional().describe('TLS SNI server name, when it differs from the URL host'),
    })
      .optional()
      .describe('TLS files, relative to the config file'),
    topicPrefix: z
      .string({ error: expected('an MQTT topic prefix without wildcards or leading/trailing "/"') })
      .regex(/^[^#+/\s]+(\/[^#+/\s]+)*$/)
      .default('wayside/v1'),
    protocolVersion: z.union([z.literal(4), z.literal(5)], { error: expected('4 (MQTT 3.1.1) or 5') }).default(5),
    keepalive: duration('0s', '18h').prefault('30s'),
    maxBatchRecords: int(1, 10_000).default(500),
    maxPayloadBytes: size('1KiB', '256MiB').prefault('256KiB'),
    inflight: int(1, 1000).default(16).describe('unacknowledged batches in flight'),
    reconnect: section({ min: duration('100ms', '1h').prefault('1s'), max: duration('1s', '1d').prefault('60s') }).prefault({}),
    connectTimeout: duration('1s', '10m').prefault('30s'),
    commands: section({
      maxConcurrent: int(1, 1000).default(8).describe('command handlers running at once; more get "busy"'),
      timeout: duration('100ms', '1h').prefault('30s').describe('a handler not done by then is answered "timeout"'),
      maxRequestBytes: size('256B', '16MiB').prefault('64KiB').describe('largest command request; larger ones get "too_large"'),
    }).prefault({}),
    duplicateBackoff: duration('10s', '1d').prefault('5m').describe('wait before reconnecting after another client took the session over (duplicate gateway id)'),
    maxRefusals: int(1, 1000).default(3).describe('times the broker may refuse one record (PUBACK reason code) before it is set aside in the dead-letter table'),
  });
}

/** Cheaper hashes fall to an offline guess quickly if the config file leaks (docs/flows.md). */
export const BCRYPT_MIN_COST = 10;
const bcryptCost = (hash: string): number => Number(hash.slice(4, 6));

function flowsSchema() {
  return section({
    enabled: z
      .union([z.boolean(), z.literal('auto')], { error: expected('true, false or "auto"') })
      .default('auto')
      .describe('auto: load Node-RED only when the gateway has flows or the editor is enabled'),
    editor: section({
      enabled: bool().default(false).describe('serve the Node-RED editor (login required) on the agent HTTP port'),
      path: z
        .string({ error: expected('a URL path like "/editor"') })
        .regex(/^\/[A-Za-z0-9._~\/-]*$/)
        .default('/editor'),
      users: z
        .array(
          section({
            username: text().min(1),
            password: z
              .string({ error: expected('a bcrypt hash ("$2b$...") of the password') })
              .regex(/^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$/, { error: (iss) => `expected a bcrypt hash ("$2b$..."), not a plain password (got a string of ${String(iss.input).length} characters)` })
              .refine((h) => bcryptCost(h) >= BCRYPT_MIN_COST && bcryptCost(h) <= 31, {
                error: (iss) => `expected a bcrypt hash of cost ${BCRYPT_MIN_COST}-31 (docs/flows.md), got cost ${bcryptCost(String(iss.input))}`,
              }),
            permissions: oneOf(['*', 'read']).default('*'),
          }),
          { error: expected('a list of users') },
        )
        .default([]),
    }).prefault({}),
    credentialSecret: secret().optional(),
    httpNodeRoot: z
      .string({ error: expected('a URL path like "/api"') })
      .regex(/^\/[A-Za-z0-9._~\/-]*$/)
      .default('/api'),
  });
}

function buildSchema(registry: DriverRegistry) {
  return z.strictObject(
    {
      version: z.literal(1, { error: expected('1 (the config format version)') }),
      gateway: section({
        id: id().describe('gateway id, used in MQTT topics'),
        site: text().optional().describe('free text: where the gateway is'),
        stateDir: text().default('./state').describe('where wayside keeps its state; relative to the config file'),
      }),
      log: section({ level: oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info') }).prefault({}),
      http: section({
        enabled: bool().default(true),
        host: text().default('127.0.0.1'),
        port: int(0, 65535).default(8080).describe('0 picks a free port'),
      }).prefault({}),
      clock: section({
        trust: oneOf(['auto', 'ntp', 'always']).default('auto').describe('when to trust the wall clock: auto (NTP sync or RTC), ntp, always'),
      }).prefault({}),
      outbox: section({
        path: text().default('outbox.db').describe('SQLite file; relative to gateway.stateDir'),
        maxBytes: size('1MiB', '1TiB').prefault('256MiB'),
        maxAge: duration('1m', '3650d').prefault('7d'),
        whenFull: oneOf(['drop-oldest', 'drop-newest']).default('drop-oldest'),
        commitInterval: duration('1ms', '1s').prefault('5ms'),
        memoryMaxBytes: about(size(0, '1GiB'), 'held in memory while the disk refuses writes').prefault('16MiB'),
      }).prefault({}),
      uplink: uplinkSchema().prefault({}),
      defaults: section({
        publish: publish().default('summaries'),
        window: window().prefault('60s'),
        offlineAfter: offlineAfter().prefault('5m'),
        maxPointsPerDevice: int(1, 100_000).default(256).describe('distinct points a device may have; readings of new points beyond it (from flows) are refused and counted'),
      }).prefault({}),
      devices: z.array(deviceSchema(registry), { error: expected('a list of devices') }).default([]),
      rules: z.array(ruleSchema(), { error: expected('a list of rules') }).default([]),
      flows: flowsSchema().prefault({}),
      ...productSections(registry),
    },
    { error: expected('a mapping') },
  );
}

/** The services' own sections; a name the framework already uses is refused. */
function productSections(registry: DriverRegistry): Record<string, z.ZodType> {
  const out: Record<string, z.ZodType> = {};
  for (const [name, schema] of Object.entries(registry.sections())) {
    if (FRAMEWORK_SECTIONS.includes(name)) throw new Error(`config section "${name}" is the framework's own`);
    out[name] = schema;
  }
  return out;
}

const FRAMEWORK_SECTIONS = ['version', 'gateway', 'log', 'http', 'clock', 'outbox', 'uplink', 'defaults', 'devices', 'rules', 'flows'];

/** A service's own top-level section, as its schema parsed it (the composition root registered it). */
export function configSection<T>(config: WaysideConfig, name: string): T | undefined {
  return (config as unknown as Record<string, unknown>)[name] as T | undefined;
}

export type RawConfig = z.output<ReturnType<typeof buildSchema>>;

/** The schema of the config file (input: what the operator writes). Used by the loader and gen-schema. */
export function configSchema(registry: DriverRegistry): z.ZodType<RawConfig> {
  return buildSchema(registry);
}
