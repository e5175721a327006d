// Device fields of the `dlt645` driver (validated by the config loader). Kept apart from the
// driver so the agent loads the implementation (and the serial bindings) only when used.
import { z } from 'zod';
import { expected, int, oneOf } from '../../runtime/config/fields.ts';
import { duration } from '../../runtime/config/units.ts';
import { POINT_NAMES } from './points.ts';

const BAUD_RATES = [1200, 2400, 4800, 9600, 19200] as const;
const ADDRESS_RE = /^(\d{12}|auto)$/;

const addressError = (iss: { code?: string; input?: unknown }) =>
  typeof iss.input === 'number'
    ? `expected the address quoted, like "000000001234" (YAML reads unquoted digits as the number ${iss.input} and drops leading zeros)`
    : expected('12 digits as printed on the meter, like "000000001234", or "auto"')(iss);

export const dlt645Schema = z.object({
  port: z.string({ error: expected('a serial device path like "/dev/ttyUSB0"') }).min(1).describe('serial device of the RS-485 adapter; meters with the same port share it'),
  baudRate: z.literal(BAUD_RATES, { error: expected(`one of ${BAUD_RATES.join(', ')}`) }).default(2400).describe('line speed (DL/T 645 default 2400)'),
  parity: oneOf(['even', 'none', 'odd']).default('even').describe('parity (DL/T 645: even, 8E1)'),
  stopBits: z.literal([1, 2], { error: expected('1 or 2') }).default(1).describe('stop bits'),
  address: z.string({ error: addressError }).regex(ADDRESS_RE).describe('meter address: 12 digits as printed on the meter, quoted, or "auto" (discover; one meter on the port)'),
  interval: duration('100ms', '1h').prefault('10s').describe('time between reads of all points'),
  timeout: duration('50ms', '10s').prefault('1s').describe('how long to wait for each reply'),
  gap: duration('0ms', '2s').prefault('50ms').describe('idle time on the line between one exchange and the next'),
  preamble: int(0, 4).default(4).describe('FE wake-up bytes sent before each request (0-4)'),
  points: z.array(oneOf(POINT_NAMES)).min(1).default([...POINT_NAMES]).describe('points to read (default: all known)'),
  maxBackoff: duration('1s', '1h').prefault('60s').describe('longest wait between attempts while the meter does not answer'),
});

export type Dlt645Config = z.infer<typeof dlt645Schema>;

export const DLT645_DESCRIPTION = 'DL/T 645-2007 electricity meters on RS-485: energy, voltage, current, power, power factor, frequency';
