// Device fields of the `modem` driver (validated by the config loader). Kept apart from the
// driver so the agent loads the implementation (and the serial bindings) only when used.
import { z } from 'zod';
import { expected, oneOf } from '../../runtime/config/fields.ts';
import { duration } from '../../runtime/config/units.ts';

const BAUD_RATES = [9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600] as const;

export const modemSchema = z.object({
  port: z.string({ error: expected('a serial device path like "/dev/ttyUSB2"') }).min(1)
    .describe('AT command port of the modem (Quectel EC25/BG96: usually the third USB interface, /dev/ttyUSB2); the device has it to itself'),
  baudRate: z.literal(BAUD_RATES, { error: expected(`one of ${BAUD_RATES.join(', ')}`) }).default(115200)
    .describe('line speed (USB modems ignore it; a UART-attached module needs the right one)'),
  interval: duration('1s', '1h').prefault('30s').describe('time between reads of the link quality'),
  timeout: duration('100ms', '30s').prefault('2s').describe('how long to wait for the reply to each AT command'),
  maxBackoff: duration('1s', '1h').prefault('2m').describe('longest wait between attempts while the modem does not answer'),
  commands: z
    .strictObject({
      qeng: oneOf(['auto', 'on', 'off']).default('auto')
        .describe('Quectel AT+QENG="servingcell" (RSRP, RSRQ, SINR of the serving cell): auto = ask once and keep asking only if the modem knows it; on = always ask (an ERROR is a device error); off = never'),
      qengSinr: oneOf(['fifths', 'db']).default('fifths')
        .describe('scale of the +QENG SINR field: fifths = 0-250 in 1/5 dB from -20 dB (EC2x, EG2x, BG9x manuals); db = plain dB (RM5xx, some firmware)'),
    }, { error: expected('a mapping') })
    .prefault({})
    .describe('which optional commands to use'),
});

export type ModemConfig = z.infer<typeof modemSchema>;

export const MODEM_DESCRIPTION = 'Cellular modem (Quectel, SIMCom) on its AT command port: signal (RSSI, RSRP, RSRQ, SINR), registration, operator, access technology, cell id';
