// The `modem` family: schema, checks and points now; the implementation (serial bindings, the
// AT session) on the first configured modem. A modem's AT port is its own: no other device,
// of this family or another, may use it (checkAll here; checkSharedPorts across families).
import type { DeviceBase, PointInfo } from '../../runtime/drivers.ts';
import { defineFamily } from '../common/family.ts';
import type { PortUse } from '../common/port-checks.ts';
import { ACCESS_NAMES, REGISTRATION_NAMES } from './parse.ts';
import { MODEM_DESCRIPTION, modemSchema, type ModemConfig } from './schema.ts';

type Device = DeviceBase & ModemConfig;

const point = (name: string, type: PointInfo['type'], description: string, unit?: string, range?: [number, number]): PointInfo =>
  ({ name, type, writable: false, description, ...(unit !== undefined && { unit }), ...(range && { min: range[0], max: range[1] }) });

/** Every point a modem has (a point the modem cannot measure right now simply gets no reading). */
export const MODEM_POINTS: readonly PointInfo[] = [
  point('rssi_dbm', 'number', 'received signal strength (AT+CSQ, 27.007 steps of 2 dB)', 'dBm', [-113, -51]),
  point('rsrp_dbm', 'number', 'LTE/NR reference signal received power of the serving cell (AT+QENG, else AT+CESQ)', 'dBm', [-157, -30]),
  point('rsrq_db', 'number', 'LTE/NR reference signal received quality of the serving cell (AT+QENG, else AT+CESQ)', 'dB', [-43.5, 20]),
  point('sinr_db', 'number', 'signal to interference plus noise ratio of the serving cell (AT+QENG; NR: AT+CESQ)', 'dB', [-23.5, 40]),
  point('registered', 'boolean', 'registered on a network, home or roaming (AT+CREG?/+CEREG?/+C5GREG?)'),
  point('registration', 'string', `network registration: ${REGISTRATION_NAMES.join(', ')}`),
  point('operator', 'string', 'operator the modem is registered with, as AT+COPS? names it'),
  point('access', 'string', `access technology: ${ACCESS_NAMES.join(', ')}`),
  point('cell_id', 'string', 'serving cell id, hex as the modem reports it'),
];

export const modemPoints = (): PointInfo[] => MODEM_POINTS.map((p) => ({ ...p }));

/** The modem's use of its port, for checkSharedPorts (drivers/index.ts): exclusive. */
export function modemPortUse(index: number, d: Device): PortUse & { exclusive: true } {
  return { index, device: d.id, family: 'modem', key: d.port, settings: 'AT command port', settingsPath: ['port'], addressPath: ['port'], exclusive: true };
}

export function modemFamily() {
  return defineFamily({
    name: 'modem',
    description: MODEM_DESCRIPTION,
    schema: modemSchema,
    checkAll: (devices) => {
      const first = new Map<string, string>();
      return devices.flatMap(({ index, device }) => {
        const o = first.get(device.port);
        if (o === undefined) return void first.set(device.port, device.id), [];
        return [{ index, path: ['port'], message: `port ${device.port} is already the AT port of modem device "${o}"; a modem needs its port to itself` }];
      });
    },
    points: modemPoints,
    ports: (d) => [d.port],
    async load() {
      const { createModemDriver } = await import('./index.ts');
      return (device, ctx) => createModemDriver(device, ctx);
    },
  });
}
