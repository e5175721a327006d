// Modbus device profiles: the register map of a device model as a data file in profiles/ (or
// any path relative to the config file), validated by the same point schema as inline config
// points, loaded by the common profile loader (drivers/common/profiles.ts).
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { int, num, section, text } from '../../runtime/config/fields.ts';
import { formatPath } from '../../runtime/config/loader.ts';
import * as common from '../common/profiles.ts';
import { pointList, type ModbusPoint } from './point-schema.ts';

export { ProfileError } from '../common/profiles.ts';

export const PROFILES_DIR = fileURLToPath(new URL('./profiles/', import.meta.url));

export const profileFileSchema = section({
  vendor: text().optional(),
  model: text().optional(),
  description: text().optional(),
  maxRegistersPerRequest: int(1, 125).optional().describe('registers this model serves per request at most'),
  maxGap: int(0, 125).optional(),
  points: pointList().min(1),
  probe: z.array(section({
    point: text('a point name of this profile').describe('a point of this profile'),
    min: num().describe('lowest plausible value (engineering units)'),
    max: num().describe('highest plausible value (engineering units)'),
  }), { error: 'expected a list of { point, min, max }' }).min(1).optional()
    .describe('points `wayside scan modbus` reads to recognise this model: each must answer within [min, max]'),
}).superRefine((p, ctx) => {
  // A probe names a point of the same file, so the scanner reads it with the point's own codec.
  p.probe?.forEach((pr, i) => {
    const pt = p.points.find((x) => x.name === pr.point);
    if (!pt) ctx.addIssue({ code: 'custom', path: ['probe', i, 'point'], input: pr.point, message: `no point "${pr.point}" in this profile (points: ${p.points.map((x) => x.name).join(', ')})` });
    else if (pt.type === 'string') ctx.addIssue({ code: 'custom', path: ['probe', i, 'point'], input: pr.point, message: `point "${pr.point}" is a string: a probe needs a number or bool point` });
    if (pr.min > pr.max) ctx.addIssue({ code: 'custom', path: ['probe', i, 'max'], input: pr.max, message: `expected a number >= min (${pr.min}), got ${pr.max}` });
  });
});

export type ModbusProfile = z.output<typeof profileFileSchema> & common.ProfileOrigin & { points: ModbusPoint[] };

/** `points[3] (voltage_a).type`: the point's name makes the message findable without counting. */
function describePath(data: unknown, p: readonly PropertyKey[]): string {
  if (p[0] === 'points' && typeof p[1] === 'number') {
    const name = (data as { points?: { name?: unknown }[] })?.points?.[p[1]]?.name;
    const head = `points[${p[1]}]${typeof name === 'string' ? ` (${name})` : ''}`;
    const tail = formatPath(p.slice(2) as (string | number)[]);
    return tail ? `${head}.${tail}` : head;
  }
  return formatPath(p as (string | number)[]) || 'file';
}

export const modbusProfiles: common.ProfileKind<typeof profileFileSchema> = { family: 'modbus', dir: PROFILES_DIR, schema: profileFileSchema, describePath };

export const listProfiles = (): string[] => common.shippedProfiles(PROFILES_DIR);
export const loadProfile = (ref: string, baseDir?: string): ModbusProfile => common.loadProfile(modbusProfiles, ref, baseDir);
export const parseProfile = (text: string, file: string, ref = file): ModbusProfile => common.parseProfile(modbusProfiles, text, file, ref);

/**
 * The points a device polls: the profile's, with inline entries of the same name replacing
 * them whole and new names appended.
 */
export function mergePoints(profile: ModbusProfile | undefined, inline: ModbusPoint[]): ModbusPoint[] {
  if (!profile) return inline;
  const byName = new Map(profile.points.map((p) => [p.name, p]));
  for (const p of inline) byName.set(p.name, p);
  return [...byName.values()];
}
