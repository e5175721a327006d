// What `wayside run` would refuse (or silently get wrong) is refused by the loader first, with
// file:line: rules the rule engine cannot run, broker URLs and hosts that do not parse, empty
// secrets, weak bcrypt hashes, points a device does not have, cross-device driver checks.
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createDriverRegistry, defineDriver, type PointInfo } from '../drivers.ts';
import { createRules } from '../rules.ts';
import { topicsFor } from '../uplink/protocol.ts';
import { ConfigError, parseConfig, readConfig, type DevicesCheck } from './loader.ts';
import { section } from './fields.ts';
import { secret } from './secrets.ts';

const point = (name: string): PointInfo => ({ name, type: 'number', writable: false });
// `known` devices list their points; `blind` ones cannot tell; checkAll refuses a shared bus id.
const known = defineDriver({
  name: 'known',
  description: 'test driver that knows its points',
  schema: z.object({
    bus: z.string().default('a'),
    interval: z.number().default(1),
    points: z.array(section({ name: z.string(), order: z.enum(['ABCD', 'CDAB']).optional() })).default([]),
    token: secret().optional(),
  }),
  points: (d) => d.points.map((p) => point(p.name)),
  checkAll: (devices) => {
    const seen = new Map<string, number>();
    return devices.flatMap(({ index, device }) => {
      const first = seen.get(device.bus);
      if (first === undefined) return (seen.set(device.bus, index), []);
      return [{ index, path: ['bus'], message: `bus "${device.bus}" already used by devices[${first}]` }];
    });
  },
  create: () => {
    throw new Error('not used');
  },
});
const blind = defineDriver({ name: 'blind', description: 'no point list', schema: z.object({}), create: () => { throw new Error('not used'); } });
const registry = createDriverRegistry([known, blind]);
const FILE = '/nonexistent-wayside/etc/wayside.yaml';
const HEAD = 'version: 1\ngateway: { id: pole-1 }\nuplink: { enabled: false }\n';
const DEV = 'devices:\n  - id: a\n    driver: known\n    points: [{ name: pm25 }, { name: temp }]\n';

function errorsOf(text: string, opts: { env?: NodeJS.ProcessEnv; checks?: DevicesCheck[] } = {}): string[] {
  try {
    parseConfig(text, FILE, registry, opts.env ?? {}, { checks: opts.checks });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).message.split('\n');
  }
  throw new Error('expected a ConfigError');
}

describe('refused before run', () => {
  it.each([
    ['rule bands that overlap with hysteresis', HEAD + DEV + 'rules:\n  - { point: a/pm25, above: 10, below: 8, hysteresis: 2 }\n',
      'wayside.yaml:9 rules[0].hysteresis: expected less than half the gap between below (8) and above (10), i.e. under 1, got 2'],
    ['url with a port that is not a number', 'version: 1\ngateway: { id: pole-1 }\nuplink: { url: "mqtt://host:notaport" }\n',
      'wayside.yaml:3 uplink.url: expected a port 1-65535 after the host, got "notaport" in "mqtt://host:notaport"'],
    ['url with port 0', 'version: 1\ngateway: { id: pole-1 }\nuplink: { url: "mqtts://host:0" }\n',
      'wayside.yaml:3 uplink.url: expected a port 1-65535 after the host, got "0" in "mqtts://host:0"'],
    ['url with port 70000 while disabled', 'version: 1\ngateway: { id: pole-1 }\nuplink: { enabled: false, url: "ws://host:70000/mqtt" }\n',
      'wayside.yaml:3 uplink.url: expected a port 1-65535 after the host, got "70000" in "ws://host:70000/mqtt"'],
    ['url without host', 'version: 1\ngateway: { id: pole-1 }\nuplink: { url: "mqtt://:1883" }\n',
      'wayside.yaml:3 uplink.url: expected a host after "mqtt://", got "mqtt://:1883"'],
    ['url with a bad host', 'version: 1\ngateway: { id: pole-1 }\nuplink: { url: "mqtt://plat_form!:1883" }\n',
      'wayside.yaml:3 uplink.url: expected an IP address or a host name as the URL host, got "plat_form!" in "mqtt://plat_form!:1883"'],
    ['http.host with a space', HEAD + 'http: { host: "my gateway" }\n', 'wayside.yaml:4 http.host: expected an IP address or a host name, got "my gateway"'],
    ['http.host not an IPv4 address', HEAD + 'http: { host: 10.0.0.256 }\n',
      'wayside.yaml:4 http.host: expected an IP address or a host name, got "10.0.0.256" (not a valid IPv4 address)'],
    ['empty inline password', 'version: 1\ngateway: { id: pole-1 }\nuplink:\n  url: mqtt://h\n  password: ""\n',
      'wayside.yaml:5 uplink.password: expected a non-empty secret (leave the field out for none)'],
    ['bcrypt cost below 10', HEAD + 'flows:\n  editor:\n    enabled: true\n    users:\n      - username: admin\n        password: "$2b$04$' + 'a'.repeat(53) + '"\n',
      'wayside.yaml:9 flows.editor.users[0].password: expected a bcrypt hash of cost 10-31 (docs/flows.md), got cost 4'],
    ['editor without the HTTP server', HEAD + 'http: { enabled: false }\nflows:\n  editor:\n    enabled: true\n    users:\n      - username: admin\n        password: "$2b$10$' + 'a'.repeat(53) + '"\n',
      'wayside.yaml:7 flows.editor.enabled: needs the HTTP server: set http.enabled: true (or turn flows off)'],
    ['perPoint entry for a point the device lacks', HEAD + DEV + '    perPoint:\n      pm2.5: { publish: raw }\n',
      'wayside.yaml:9 devices[0].perPoint["pm2.5"]: unknown point "pm2.5" of device "a" (did you mean "pm25"?) (points: pm25, temp)'],
    ['rule for a point the device lacks', HEAD + DEV + 'rules:\n  - { point: a/noise, above: 70 }\n',
      'wayside.yaml:9 rules[0].point: unknown point "noise" of device "a" (points: pm25, temp)'],
    ['a driver check across devices', HEAD + DEV + '  - id: b\n    driver: known\n    bus: a\n',
      'wayside.yaml:10 devices[1].bus: bus "a" already used by devices[0]'],
    ['misspelt driver field', HEAD + DEV + '    pollInterval: 5\n', 'wayside.yaml:8 devices[0]: unknown field "pollInterval" (did you mean "interval"?)'],
    ['misspelt field of a driver point', HEAD + 'devices:\n  - id: a\n    driver: known\n    points:\n      - { name: v, wordOrder: CDAB }\n',
      'wayside.yaml:8 devices[0].points[0]: unknown field "wordOrder" (did you mean "order"?)'],
    ['unclosed quote', 'version: 1\ngateway:\n  id: "pole-1\n  site: x\nhttp: {}\n', 'wayside.yaml:3:7 YAML syntax: the double quote opened here is never closed'],
    ['unclosed list', 'version: 1\ngateway: { id: pole-1 }\ndevices: [\nrules: []\nhttp: {}\n', 'wayside.yaml:3:10 YAML syntax: the "[" of this list opened here is never closed'],
  ])('%s', (_name, text, line) => {
    expect(errorsOf(text)).toEqual([line]);
  });

  it.each([
    ['env', { env: 'PW' }, 'environment variable PW is empty; expected a non-empty secret (leave the field out for none)'],
  ])('refuses an empty secret from %s', (_n, form, msg) => {
    const text = `version: 1\ngateway: { id: pole-1 }\nuplink:\n  url: mqtt://h\n  password: ${JSON.stringify(form)}\n`;
    expect(errorsOf(text, { env: { PW: '' } })).toEqual([`wayside.yaml:5 uplink.password: ${msg}`]);
  });

  it('runs the cross-family checks over every device, whatever its driver', () => {
    const seen: string[] = [];
    const check: DevicesCheck = (devices) => {
      seen.push(...devices.map((d) => `${d.index}:${d.device.driver}`));
      return [{ index: 1, path: ['id'], message: 'shares a port with devices[0]' }];
    };
    const text = HEAD + DEV + '  - { id: b, driver: blind }\n';
    expect(errorsOf(text, { checks: [check] })).toEqual(['wayside.yaml:8 devices[1].id: shares a port with devices[0]']);
    expect(seen).toEqual(['0:known', '1:blind']);
  });

  it('reports a check that throws as a problem, not a stack trace', () => {
    const text = HEAD + DEV;
    expect(errorsOf(text, { checks: [() => { throw new Error('boom'); }] })).toEqual(['wayside.yaml:4 devices: device check failed: boom']);
  });

  it('accepts good hosts, URLs, points of a device that knows them, and any point where the driver cannot tell', () => {
    const text = 'version: 1\ngateway: { id: pole-1 }\nhttp: { host: "::" }\nuplink: { url: "mqtts://[::1]:8883", topicPrefix: a/b }\n' +
      DEV + '    perPoint: { temp: { window: 5s } }\n  - { id: b, driver: blind, perPoint: { anything: { publish: raw } } }\n' +
      'rules:\n  - { point: a/pm25, above: 10, below: 8, hysteresis: 0.9 }\n  - { point: b/whatever, below: 1 }\n';
    const c = parseConfig(text, FILE, registry, {});
    expect(c.devices.map((d) => d.id)).toEqual(['a', 'b']);
    for (const host of ['0.0.0.0', 'localhost', 'gw-1.local', 'fe80::1']) {
      expect(parseConfig(HEAD + `http: { host: "${host}" }\n`, FILE, registry, {}).http.host).toBe(host);
    }
    // What the loader accepts, the constructors it feeds accept too.
    expect(() => topicsFor(c.uplink.topicPrefix, c.gateway.id)).not.toThrow();
    const ctx = { bus: { on() {}, off() {} }, clock: { mono: () => 0 }, log: { child: () => ({}) } } as never;
    expect(() => createRules(ctx, c.rules.map((r) => ({ ...r, device: r.point.split('/')[0], point: r.point.split('/')[1], forMs: r.for })))).not.toThrow();
  });
});

describe('world-readable config file', () => {
  const write = (text: string, mode: number): string => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'wayside-perm-'));
    const file = path.join(dir, 'wayside.yaml');
    writeFileSync(file, text);
    chmodSync(file, mode);
    return file;
  };
  const text = 'version: 1\ngateway: { id: pole-1, stateDir: ./state }\nuplink:\n  url: mqtt://h\n  password: hunter2\n  username: pole-1\n';

  it('warns about each inline secret, by line, without showing it', () => {
    const { warnings } = readConfig(write(text, 0o644), registry, { env: {} });
    expect(warnings.map((w) => `${w.file}:${w.line} ${w.path}: ${w.message}`)).toEqual([
      'wayside.yaml:5 uplink.password: warning: this secret is written inline in a file every user can read (mode 0644); chmod o-r the file, or use { env: NAME } or { file: PATH }',
    ]);
  });

  it('says nothing when the file is private or the secret comes from the environment', () => {
    expect(readConfig(write(text, 0o640), registry, { env: {} }).warnings).toEqual([]);
    const fromEnv = text.replace('password: hunter2', 'password: { env: PW }');
    expect(readConfig(write(fromEnv, 0o644), registry, { env: { PW: 'x' } }).warnings).toEqual([]);
  });
});
