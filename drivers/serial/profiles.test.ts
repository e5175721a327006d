// Built-in profiles are data checked by the inline-format schema: each one loads, and its
// points and units are pinned here (golden) so a profile edit is a visible change.
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createDriverRegistry } from '../../runtime/drivers.ts';
import { builtinDrivers } from '../index.ts';
import { loadProfile, ProfileError, profileNames } from './profiles.ts';

const points = (name: string) => {
  const f = loadProfile(name).format;
  return f.type === 'nmea' ? 'nmea' : (f.fields ?? []).map((x) => `${x.point} ${x.unit ?? '-'}${x.scale !== 1 ? ` x${x.scale}` : ''}`);
};

describe('built-in serial profiles', () => {
  it('are the files in profiles/, each valid (golden points)', () => {
    expect(profileNames()).toEqual(['nmea-gps', 'pms5003', 'sds011']);
    expect(points('pms5003')).toEqual([
      'pm1_0_std µg/m³', 'pm2_5_std µg/m³', 'pm10_std µg/m³', 'pm1_0 µg/m³', 'pm2_5 µg/m³', 'pm10 µg/m³',
      'n0_3 1/0.1L', 'n0_5 1/0.1L', 'n1_0 1/0.1L', 'n2_5 1/0.1L', 'n5_0 1/0.1L', 'n10 1/0.1L',
    ]);
    expect(points('sds011')).toEqual(['pm2_5 µg/m³ x0.1', 'pm10 µg/m³ x0.1']);
    expect(points('nmea-gps')).toBe('nmea');
    for (const n of profileNames()) expect(loadProfile(n).baudRate).toBe(9600);
  });

  it('are offered by the driver schema', () => {
    const schema = createDriverRegistry(builtinDrivers()).get('serial')!.schema;
    expect(schema.safeParse({ port: '/dev/ttyUSB0', profile: 'sds011' }).success).toBe(true);
    expect(schema.safeParse({ port: '/dev/ttyUSB0', profile: 'pms9999' }).success).toBe(false);
  });

  it('a bad profile file is named with the field at fault; JSON works too', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'wayside-profiles-'));
    writeFileSync(path.join(dir, 'broken.yaml'), 'description: x\nformat: { type: binary, header: [0x100], length: 4, checksum: none, fields: [] }\n');
    writeFileSync(path.join(dir, 'ok.json'), JSON.stringify({ description: 'j', format: { type: 'text', json: true, fields: [{ point: 'a' }] } }));
    writeFileSync(path.join(dir, 'syntax.yml'), 'description: [\n');
    expect(profileNames(dir)).toEqual(['broken', 'ok', 'syntax']);
    expect(loadProfile('ok', dir).format).toMatchObject({ type: 'text', json: true, delimiter: '\n' });
    expect(() => loadProfile('broken', dir)).toThrow(ProfileError);
    expect(() => loadProfile('broken', dir)).toThrow(/broken\.yaml: format\.header\.0: .*255.*; format\.fields: /);
    expect(() => loadProfile('syntax', dir)).toThrow(/syntax\.yml: /);
    expect(() => loadProfile('nope', dir)).toThrow('serial profile nope: no such profile (known: broken, ok, syntax)');
  });
});
