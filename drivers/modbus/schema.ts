// Config schema of a `driver: modbus` device: transport, polling, limits, profile and points.
// The profile field loads and validates its file while the config is checked (relative paths
// against the config file), so `wayside check` reports a broken profile with file, line and point.
import { z } from 'zod';
import { duration } from '../../runtime/config/units.ts';
import { expected, int, oneOf, section, text } from '../../runtime/config/fields.ts';
import { pointList } from './point-schema.ts';
import { profileField } from '../common/profiles.ts';
import { modbusProfiles } from './profiles.ts';

const tcp = section({
  type: z.literal('tcp'),
  host: text('a host name or IP address').describe('device or gateway address'),
  port: int(1, 65535).default(502).describe('TCP port (default 502)'),
});

const rtu = section({
  type: z.literal('rtu'),
  port: text('a serial device path like /dev/ttyUSB0').describe('serial device of the RS-485 adapter'),
  baudRate: int(300, 4_000_000).default(9600).describe('default 9600'),
  parity: oneOf(['none', 'even', 'odd']).default('none').describe('default none'),
  dataBits: z.union([z.literal(7), z.literal(8)], { error: expected('7 or 8') }).default(8).describe('default 8'),
  stopBits: z.union([z.literal(1), z.literal(2)], { error: expected('1 or 2') }).default(1).describe('default 1'),
  frameDelay: duration('0ms', '1s').optional()
    .describe('silence between frames on the bus (default 3.5 character times, 1.75 ms above 19200 baud)'),
});

const rtuOverTcp = section({
  type: z.literal('rtu-over-tcp'),
  host: text('a host name or IP address').describe('serial device server / DTU address'),
  port: int(1, 65535).describe('TCP port of the serial device server'),
  frameDelay: duration('0ms', '1s').optional().describe('silence between frames (default 0; the server paces the serial side)'),
});

export const TRANSPORT_TYPES = ['tcp', 'rtu', 'rtu-over-tcp'] as const;

const transport = z
  .discriminatedUnion('type', [tcp, rtu, rtuOverTcp], {
    error: (iss) => {
      const input = iss.input as { type?: unknown } | undefined;
      if (input === null || typeof input !== 'object' || Array.isArray(input)) return expected('a mapping with type tcp, rtu or rtu-over-tcp')(iss);
      return input.type === undefined ? 'missing required field "type" (tcp, rtu or rtu-over-tcp)' : `unknown transport type ${JSON.stringify(input.type)} (expected tcp, rtu or rtu-over-tcp)`;
    },
  })
  .describe('how the device is reached: { type: tcp, host, port } | { type: rtu, port, baudRate, ... } | { type: rtu-over-tcp, host, port }');

export type TransportConfig = z.output<typeof transport>;

const profile = profileField(modbusProfiles, 'a profile name (drivers/modbus/profiles/<name>.yaml) or a path to a profile file')
  .describe('register map of the device model: a file name in drivers/modbus/profiles/ (without .yaml) or a path (relative to the config file)');

export const modbusSchema = z.object({
  transport,
  unitId: int(0, 255).default(1).describe('Modbus unit (slave) id; 1-247 on RTU (default 1)'),
  interval: duration('10ms', '24h').prefault('5s').describe('poll interval (default 5s)'),
  timeout: duration('10ms', '60s').prefault('1s').describe('response timeout per request (default 1s)'),
  retries: int(0, 10).default(1).describe('extra attempts after a failed request (default 1)'),
  maxRegistersPerRequest: int(1, 125).optional().describe('registers per read request (default: the profile value, else 125)'),
  maxBitsPerRequest: int(1, 2000).default(2000).describe('coils/discrete inputs per read request (default 2000)'),
  maxGap: int(0, 125).optional().describe('unused registers (or bits) bridged to merge two reads (default: the profile value, else 10)'),
  offlineFailures: int(1, 1000).default(3).describe('failed polls in a row before the device is offline (default 3)'),
  maxBackoff: duration('1s', '1h').prefault('60s').describe('longest wait between polls of a failing device (default 60s)'),
  heartbeat: duration('1s', '30d').optional()
    .describe('deadbanded points are re-emitted at least this often (default: half of offlineAfter)'),
  profile: profile.optional(),
  points: pointList().default([]).describe('points polled (added to, or replacing by name, the profile points)'),
});

export type ModbusConfigInput = z.input<typeof modbusSchema>;
export type ModbusDeviceConfig = z.output<typeof modbusSchema> & { id: string; driver: string; offlineAfter?: number };
