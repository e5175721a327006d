// Device fields of the `lora` driver: one device per LoRaWAN sensor (validated by the config
// loader). Keys are secrets (a string, { env } or { file }); their hex form is checked when the
// device is created, once the loader has resolved them.
import { existsSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import type { DeviceBase, DeviceIssue } from '../../runtime/drivers.ts';
import { configDir } from '../../runtime/drivers.ts';
import { bool, expected, int, oneOf, section, text } from '../../runtime/config/fields.ts';
import { secret } from '../../runtime/config/secrets.ts';
import { duration } from '../../runtime/config/units.ts';
import type { CodecSpec } from './codec-types.ts';

const hex = (bytes: number, what: string) =>
  z.string({ error: expected(`${bytes * 2} hex digits (${what}), quoted`) })
    .regex(new RegExp(`^[0-9a-fA-F]{${bytes * 2}}$`), { error: (iss) => `expected ${bytes * 2} hex digits (${what}), got ${JSON.stringify(iss.input)}` })
    .transform((s) => s.toLowerCase());

const LISTEN_RE = /^udp:\/\/(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;
const POINT_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
/** Radio metadata every device reports as readings. */
export const RADIO_POINTS = { rssi_dbm: 'dBm', snr_db: 'dB', sf: undefined } as const;

const codecField = z
  .union([
    z.literal(['cayenne', 'none']),
    section({
      file: text('a path to a JavaScript codec file'),
      timeout: duration('10ms', '10s').prefault('200ms').describe('longest a decodeUplink/encodeDownlink call may run'),
    }),
  ], { error: expected('"cayenne", "none" or { file: ./codec.js, timeout: 200ms }') })
  .transform((c, ctx): CodecSpec | undefined => {
    if (c === 'none') return undefined;
    if (c === 'cayenne') return { kind: 'cayenne' };
    const file = isAbsolute(c.file) ? c.file : resolve(configDir() ?? process.cwd(), c.file);
    if (!existsSync(file)) {
      ctx.issues.push({ code: 'custom', input: c.file, path: ['file'], message: `codec file ${file} does not exist` });
      return z.NEVER;
    }
    return { kind: 'js', file, timeoutMs: c.timeout };
  });

export const loraSchema = z.object({
  devEui: hex(8, 'the DevEUI, as printed on the sensor').describe('the sensor\'s DevEUI, MSB first as printed on its label'),
  mode: oneOf(['abp', 'otaa']).default('otaa').describe('activation: otaa (the gateway answers joins) or abp (session keys in config)'),
  devAddr: hex(4, 'the DevAddr').optional().describe('abp: the device address, MSB first'),
  nwkSKey: secret().optional().describe('abp: network session key, 32 hex digits'),
  appSKey: secret().optional().describe('abp: application session key, 32 hex digits'),
  appEui: hex(8, 'the AppEUI/JoinEUI').optional().describe('otaa: the AppEUI (JoinEUI) the device joins with; any when absent'),
  joinEui: hex(8, 'the JoinEUI').optional().describe('otaa: LoRaWAN 1.0.4 name of appEui'),
  appKey: secret().optional().describe('otaa: root key, 32 hex digits'),
  netId: hex(3, 'the NetID').default('000000').describe('otaa: NetID announced in JoinAccepts; DevAddrs are allocated in it'),
  codec: codecField.optional().describe('payload codec: "cayenne" (LPP), { file: ./codec.js } (TTN/ChirpStack decodeUplink) or "none" (raw payload as hex)'),
  points: z
    .record(
      z.string({ error: expected('a point name') }).regex(POINT_RE, { error: (iss) => `invalid point name ${JSON.stringify(iss.input)}: expected letters, digits, ".", "_" or "-"` }),
      section({
        unit: text('a unit like "°C"').optional(),
        writable: bool().default(false).describe('writes to this point go down to the sensor (codec encodeDownlink, or raw bytes)'),
        type: oneOf(['number', 'boolean', 'string']).default('number'),
        description: text().optional(),
      }).prefault({}),
    )
    .default({})
    .describe('codec output fields (nested ones joined with ".") as points, with their units'),
  fcntWidth: z.literal([16, 32], { error: expected('16 or 32') }).default(32).describe('frame counter size of the device (LoRaWAN 1.0.x devices use 32; some old ABP devices 16)'),
  listen: z.string({ error: expected('"udp://host:port"') }).regex(LISTEN_RE, { error: (iss) => `expected "udp://host:port" like "udp://0.0.0.0:1700", got ${JSON.stringify(iss.input)}` })
    .default('udp://0.0.0.0:1700').describe('where the packet forwarder sends (Semtech UDP); sensors with the same listen share one socket'),
  source: oneOf(['semtech', 'chirpstack']).default('semtech').describe('semtech: the gateway is the network server; chirpstack: read decoded uplinks from a local ChirpStack v4'),
  chirpstack: section({
    url: z.string({ error: expected('an MQTT URL like "mqtt://127.0.0.1:1883"') }).regex(/^mqtts?:\/\/.+/, { error: (iss) => `expected an MQTT URL like "mqtt://127.0.0.1:1883", got ${JSON.stringify(iss.input)}` }),
    application: text('a ChirpStack application id').optional().describe('application id; every application when absent'),
    username: text().optional(),
    password: secret().optional(),
  }).optional().describe('source chirpstack: the MQTT integration of the local ChirpStack'),
  dedupWindow: duration('0ms', '2s').prefault('200ms').describe('copies of one uplink heard by several forwarders within this time count once'),
  fPort: int(1, 223).default(1).describe('port of downlinks whose codec or write names none'),
  downlinkQueue: int(1, 64).default(8).describe('downlinks waiting for the sensor\'s next uplink; a write beyond is refused'),
});

export type LoraConfig = DeviceBase & z.infer<typeof loraSchema>;

export const LORA_DESCRIPTION = 'LoRaWAN sensors via a Semtech UDP packet forwarder (the gateway is their network server) or a local ChirpStack';

/** The fields one device needs by its mode and source (the loader reports them with file:line). */
export function checkLora(d: LoraConfig): DeviceIssue[] {
  const issues: DeviceIssue[] = [];
  const need = (field: keyof LoraConfig, why: string) => {
    if (d[field] === undefined) issues.push({ path: [field], message: `missing required field (needed ${why})` });
  };
  if (d.source === 'chirpstack') {
    need('chirpstack', 'while source is chirpstack');
    return issues;
  }
  if (d.chirpstack) issues.push({ path: ['chirpstack'], message: 'only used with source: chirpstack' });
  if (d.mode === 'abp') {
    need('devAddr', 'while mode is abp');
    need('nwkSKey', 'while mode is abp');
    need('appSKey', 'while mode is abp');
    for (const f of ['appKey', 'appEui', 'joinEui'] as const) if (d[f] !== undefined) issues.push({ path: [f], message: 'only used with mode: otaa' });
  } else {
    need('appKey', 'while mode is otaa');
    for (const f of ['devAddr', 'nwkSKey', 'appSKey'] as const) if (d[f] !== undefined) issues.push({ path: [f], message: 'only used with mode: abp (an otaa device gets them when it joins)' });
    if (d.appEui && d.joinEui && d.appEui !== d.joinEui) issues.push({ path: ['joinEui'], message: 'appEui and joinEui name the same field: give one' });
  }
  for (const [name] of Object.entries(RADIO_POINTS)) {
    if (d.points[name]) issues.push({ path: ['points', name], message: `"${name}" is a radio point every lora device reports; rename the codec field` });
  }
  return issues;
}

/** "udp://0.0.0.0:1700" -> host and port. */
export function parseListen(listen: string): { host: string; port: number } {
  const m = LISTEN_RE.exec(listen);
  if (!m) throw new Error(`bad listen address ${listen}`);
  return { host: m[1].replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

/** A 32-hex-digit key of a device, or an error naming the field (keys come from secrets, unchecked until now). */
export function keyOf(d: { id: string }, field: string, v: string | undefined): Buffer {
  if (typeof v !== 'string' || !/^[0-9a-fA-F]{32}$/.test(v.trim())) {
    throw new Error(`lora device "${d.id}": ${field} must be 32 hex digits (16 bytes)${typeof v === 'string' ? `, got ${v.trim().length} characters` : ''}`);
  }
  return Buffer.from(v.trim(), 'hex');
}
