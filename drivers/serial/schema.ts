// Device fields of the `serial` driver (validated by the config loader). Kept apart from the
// driver so the agent loads the implementation (and the serial bindings) only when used.
import { z } from 'zod';
import type { DeviceBase } from '../../runtime/drivers.ts';
import { duration } from '../../runtime/config/units.ts';
import { formatSchema, lineShape } from './format.ts';
import { profileField } from '../common/profiles.ts';
import { profileNames, serialProfiles } from './profiles.ts';

export const serialSchema = z.object({
  port: z.string().min(1).describe('serial device path, like /dev/ttyUSB1 or /dev/serial/by-id/...'),
  ...lineShape,
  profile: profileField(serialProfiles, `a built-in profile (${profileNames().join(', ')}) or a path to a profile file`).optional()
    .describe('sensor profile: a built-in name, or a path relative to the config file (or give format)'),
  format: formatSchema.optional(),
  minInterval: duration('1ms', '1d').optional().describe('at most one reading per point per this interval (default: every frame)'),
  silenceTimeout: duration('100ms', '7d').prefault('30s').describe('no valid frame for this long counts as a failure'),
  reopen: z
    .strictObject({
      min: duration('10ms', '1h').prefault('500ms').describe('first delay before reopening a lost port'),
      max: duration('10ms', '1d').prefault('30s').describe('longest delay between reopen attempts'),
    })
    .prefault({})
    .describe('backoff for reopening the port after an unplug'),
});

export type SerialConfig = DeviceBase & z.infer<typeof serialSchema>;

export const SERIAL_DESCRIPTION = `Sensors streaming on a serial line: built-in profiles (${profileNames().join(', ')}) or inline text/binary/NMEA framing`;
