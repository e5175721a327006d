// Built-in profiles are data checked by the inline-format schema: each one loads, and its
// points and units are pinned here (golden) so a profile edit is a visible change.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createDriverRegistry, withConfigDir } from '../../runtime/drivers.ts';
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

  it('a bad profile file is named with its line and the field at fault; JSON works too; paths are relative to the config file', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'wayside-profiles-'));
    writeFileSync(path.join(dir, 'broken.yaml'), 'description: x\nformat: { type: binary, header: [0x100], length: 4, checksum: none, fields: [] }\n');
    writeFileSync(path.join(dir, 'ok.json'), JSON.stringify({ description: 'j', format: { type: 'text', json: true, fields: [{ point: 'a' }] } }));
    writeFileSync(path.join(dir, 'syntax.yml'), 'description: x\nformat: [\n');
    expect(loadProfile('ok.json', dir).format).toMatchObject({ type: 'text', json: true, delimiter: '\n' });
    expect(loadProfile('ok.json', dir).file).toBe(path.join(dir, 'ok.json'));
    expect(() => loadProfile('broken.yaml', dir)).toThrow(ProfileError);
    expect(() => loadProfile('broken.yaml', dir)).toThrow(/^profile broken\.yaml:2 format\.header\[0\]: .*255.*\nprofile broken\.yaml:2 format\.fields: /);
    expect(() => loadProfile('syntax.yml', dir)).toThrow(/^profile syntax\.yml:3: YAML syntax: /);
    expect(() => loadProfile('nope')).toThrow(/profile "nope": cannot read .*nope\.yaml: no such file \(shipped serial profiles: nmea-gps, pms5003, sds011\)/);
    // Never the working directory: a relative path without the config file's directory is refused.
    expect(() => loadProfile('./ok.json')).toThrow('profile "./ok.json": a relative path needs the config file\'s directory; give an absolute path');
  });

  it('a relative profile path in a config resolves against the config file, not the working directory', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'wayside-profiles-'));
    mkdirSync(path.join(dir, 'sensors'));
    writeFileSync(path.join(dir, 'sensors', 'co2.yaml'), "description: co2\nformat: { type: text, regex: '^CO2=(?<co2>[0-9]+)$' }\n");
    const schema = createDriverRegistry(builtinDrivers()).get('serial')!.schema;
    const parsed = withConfigDir(dir, () => schema.parse({ port: '/dev/ttyUSB0', profile: 'sensors/co2.yaml' }));
    expect(parsed.profile).toMatchObject({ file: path.join(dir, 'sensors', 'co2.yaml'), description: 'co2' });
    expect(withConfigDir(os.tmpdir(), () => schema.safeParse({ port: '/dev/ttyUSB0', profile: 'sensors/co2.yaml' })).success).toBe(false);
  });
});
