// Checks of the `modbusServer:` mappings against the devices, made when the service starts
// (the section's schema cannot see `devices:`): the device is configured, the point exists
// where its driver knows its points, a writable mapping serves a writable point, and the
// register type fits the point's type. Messages name the config path, like the loader's.
import type { WaysideConfig } from '../../runtime/config/index.ts';
import type { RegisterMapping } from './schema.ts';

/** A device's points as the devices service lists them (undefined: the driver cannot tell). */
export interface DevicePoints {
  id: string;
  points?: { name: string; type: string; writable: boolean; min?: number; max?: number }[];
}

export interface MappingCheck {
  /** Refuse to start: `modbusServer.registers[2].point: unknown device "meter-9" ...`. */
  errors: string[];
  /** Served anyway (quality 3 until a value comes): a disabled device, a device not running. */
  warnings: string[];
}

const INTEGER_TYPES = ['int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64'];

export function checkMappings(config: WaysideConfig, registers: RegisterMapping[], running: DevicePoints[] | undefined): MappingCheck {
  const errors: string[] = [];
  const warnings: string[] = [];
  const configured = new Map(config.devices.map((d) => [d.id, d]));
  const live = new Map((running ?? []).map((d) => [d.id, d]));
  registers.forEach((m, i) => {
    const at = `modbusServer.registers[${i}]`;
    const device = configured.get(m.device);
    if (!device) {
      const known = [...configured.keys()];
      errors.push(`${at}.point: unknown device "${m.device}" (configured: ${known.length ? known.join(', ') : 'none'})`);
      return;
    }
    if (!device.enabled) {
      warnings.push(`${at}.point: device "${m.device}" is disabled; ${m.point} has quality 3 until it reports`);
      return;
    }
    const points = live.get(m.device)?.points;
    if (!points) return; // the driver cannot tell its points: any name is accepted
    const p = points.find((q) => q.name === m.name);
    if (!p) {
      errors.push(`${at}.point: device "${m.device}" has no point "${m.name}" (points: ${points.map((q) => q.name).join(', ') || 'none'})`);
      return;
    }
    const fit = typeProblem(m.type, p.type);
    if (fit) errors.push(`${at}.type: ${m.point} is a ${p.type} point: ${fit}`);
    if (m.writable && !p.writable) errors.push(`${at}.writable: ${m.point} is not writable on its device; remove "writable: true"`);
  });
  return { errors, warnings };
}

/** Why a register type cannot carry a point of `pointType`, or undefined. */
export function typeProblem(type: string, pointType: string): string | undefined {
  if (pointType === 'string') return type === 'string' ? undefined : `expected type string, got ${type}`;
  if (pointType === 'boolean') return type === 'bool' || INTEGER_TYPES.includes(type) ? undefined : `expected type bool or an integer type, got ${type}`;
  if (pointType === 'number') return type === 'string' || type === 'bool' ? `expected a number type (int16, uint16, int32, uint32, int64, uint64, float32, float64), got ${type}` : undefined;
  return undefined;
}
