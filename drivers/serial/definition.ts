// The `serial` family: schema, checks and points now; the implementation (serial bindings,
// decoders) on the first configured device.
import type { DeviceBase, PointInfo } from '../../runtime/drivers.ts';
import { defineFamily } from '../common/family.ts';
import { regexGroups, type SerialFormat } from './format.ts';
import { NMEA_POINTS } from './nmea.ts';
import { SERIAL_DESCRIPTION, serialSchema, type SerialConfig } from './schema.ts';

/** The points a format produces: its fields, a regex's named groups, or the NMEA set. */
export function formatPoints(f: SerialFormat): PointInfo[] {
  const info = (point: string, type: PointInfo['type'], unit?: string, description?: string): PointInfo =>
    ({ name: point, type, writable: false, ...(unit !== undefined && { unit }), ...(description !== undefined && { description }) });
  if (f.type === 'nmea') return Object.entries(NMEA_POINTS).map(([n, p]) => info(n, 'number', p.unit, p.description));
  if (f.type === 'binary') return f.fields.map((fd) => info(fd.point, 'number', fd.unit, fd.description));
  if (f.fields) return f.fields.map((fd) => info(fd.point, fd.type, fd.unit, fd.description));
  const groups = f.regex !== undefined ? regexGroups(f.regex) : [];
  return typeof groups === 'string' ? [] : groups.map((g) => info(g, 'number'));
}

export function serialPoints(d: DeviceBase & Pick<SerialConfig, 'profile' | 'format'>): PointInfo[] | undefined {
  const format = d.profile?.format ?? d.format;
  return format ? formatPoints(format) : undefined;
}

export function serialFamily() {
  return defineFamily({
    name: 'serial',
    description: SERIAL_DESCRIPTION,
    schema: serialSchema,
    check: (d) =>
      d.profile && d.format
        ? [{ path: ['format'], message: 'give either profile or format, not both' }]
        : !d.profile && !d.format
          ? [{ path: ['profile'], message: 'needs a profile (like pms5003) or a format' }]
          : [],
    // A serial sensor has its line to itself (it streams unasked): a second device on the port
    // would read the first one's frames.
    checkAll: (devices) => {
      const first = new Map<string, string>();
      return devices.flatMap(({ index, device }) => {
        const o = first.get(device.port);
        if (o === undefined) return void first.set(device.port, device.id), [];
        return [{ index, path: ['port'], message: `port ${device.port} is already read by serial device "${o}"; a streaming sensor needs its port to itself` }];
      });
    },
    points: serialPoints,
    ports: (d) => [d.port],
    async load() {
      const { createSerialDriver } = await import('./index.ts');
      return (device, ctx) => createSerialDriver(device, ctx);
    },
  });
}
