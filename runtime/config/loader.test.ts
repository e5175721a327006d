import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createDriverRegistry, defineDriver } from '../drivers.ts';
import { ConfigError, loadConfig, parseConfig } from './loader.ts';
import { secret } from './secrets.ts';

// A tiny driver so these tests do not depend on the real ones.
const fake = defineDriver({
  name: 'fake',
  description: 'test driver',
  schema: z.object({ host: z.string(), port: z.int().min(1).max(65535).default(502), token: secret().optional() }),
  create: () => {
    throw new Error('not used');
  },
});
const registry = createDriverRegistry([fake]);
// A directory that does not exist: relative paths resolve against it, nothing is read there.
const FILE = '/nonexistent-wayside/etc/wayside.yaml';

function errorsOf(text: string, env: NodeJS.ProcessEnv = {}, file = FILE): string[] {
  try {
    parseConfig(text, file, registry, env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).message.split('\n');
  }
  throw new Error('expected a ConfigError');
}

const HEAD = 'version: 1\ngateway: { id: pole-1 }\nuplink: { enabled: false }\n';

describe('bad config files', () => {
  it.each([
    ['bad port', HEAD + 'http:\n  port: abc\n', 'wayside.yaml:5 http.port: expected integer 0-65535, got "abc"'],
    ['port out of range', HEAD + 'http: { port: 70000 }\n', 'wayside.yaml:4 http.port: expected integer 0-65535, got 70000'],
    ['missing gateway.id', 'version: 1\ngateway:\n  site: Main St 12\n', 'wayside.yaml:2 gateway.id: missing required field'],
    ['missing version', 'gateway: { id: pole-1 }\nuplink: { enabled: false }\n', 'wayside.yaml:1 version: missing required field'],
    ['wrong version', 'version: 2\ngateway: { id: pole-1 }\n', 'wayside.yaml:1 version: expected 1 (the config format version), got 2'],
    ['unknown top-level key', HEAD + 'uplnk: {}\n', 'wayside.yaml:4 unknown field "uplnk" (did you mean "uplink"?)'],
    ['unknown nested key', 'version: 1\ngateway:\n  id: pole-1\n  prot: 3\n', 'wayside.yaml:4 gateway: unknown field "prot"'],
    ['typo in nested key', HEAD + 'http:\n  prot: 80\n', 'wayside.yaml:5 http: unknown field "prot" (did you mean "port"?)'],
    ['unknown driver', HEAD + 'devices:\n  - id: a\n    driver: modbuss\n', 'wayside.yaml:6 devices[0].driver: unknown driver "modbuss" (known: fake)'],
    ['missing driver', HEAD + 'devices:\n  - id: a\n', 'wayside.yaml:5 devices[0].driver: missing required field'],
    ['device not a mapping', HEAD + 'devices: [lamp]\n', 'wayside.yaml:4 devices[0]: expected a mapping, got "lamp"'],
    ['bad device id', HEAD + 'devices:\n  - { id: Pole A, driver: fake, host: h }\n',
      'wayside.yaml:5 devices[0].id: expected an id of 1-64 lowercase letters, digits, ".", "_" or "-" starting with a letter or digit, got "Pole A"'],
    ['driver field missing', HEAD + 'devices:\n  - id: a\n    driver: fake\n', 'wayside.yaml:5 devices[0].host: missing required field'],
    ['driver field out of range', HEAD + 'devices:\n  - { id: a, driver: fake, host: h, port: 0 }\n', 'wayside.yaml:5 devices[0].port: expected a number at least 1, got 0'],
    ['unknown device field', HEAD + 'devices:\n  - id: a\n    driver: fake\n    host: h\n    hots: x\n',
      'wayside.yaml:8 devices[0]: unknown field "hots" (did you mean "host"?)'],
    ['duplicate device ids', HEAD + 'devices:\n  - { id: a, driver: fake, host: h }\n  - { id: a, driver: fake, host: h }\n',
      'wayside.yaml:6 devices[1].id: duplicate device id "a" (also devices[0])'],
    ['bad duration', 'version: 1\ngateway: { id: pole-1 }\nuplink:\n  enabled: false\n  keepalive: 5 parsecs\n',
      'wayside.yaml:5 uplink.keepalive: expected duration 0s-18h (like "500ms", "30s", "5m", "1h"; a bare number is seconds), got "5 parsecs"'],
    ['window out of range', HEAD + 'devices:\n  - id: a\n    driver: fake\n    host: h\n    window: 2h\n',
      'wayside.yaml:8 devices[0].window: expected duration 1s-1h (like "500ms", "30s", "5m", "1h"; a bare number is seconds), got "2h"'],
    ['size out of range', HEAD + 'outbox: { maxBytes: 512KiB }\n',
      'wayside.yaml:4 outbox.maxBytes: expected size 1MiB-1TiB (like "512KiB", "16MB", "256MiB"; a bare number is bytes), got "512KiB"'],
    ['bad enum', HEAD + 'log: { level: verbose }\n', 'wayside.yaml:4 log.level: expected one of fatal, error, warn, info, debug, trace, got "verbose"'],
    ['bad point name in perPoint', HEAD + 'devices:\n  - id: a\n    driver: fake\n    host: h\n    perPoint:\n      "no ise": { publish: raw }\n',
      'wayside.yaml:9 devices[0].perPoint["no ise"]: invalid point name "no ise": expected letters, digits, ".", "_" or "-"'],
    ['rule on unknown device', HEAD + 'devices:\n  - { id: a, driver: fake, host: h }\nrules:\n  - point: b/pm25\n    above: 75\n',
      'wayside.yaml:7 rules[0].point: unknown device "b" in "b/pm25" (devices: a)'],
    ['rule without threshold', HEAD + 'devices:\n  - { id: a, driver: fake, host: h }\nrules:\n  - point: a/pm25\n',
      'wayside.yaml:7 rules[0]: expected at least one of "above" or "below"'],
    ['rule with below >= above', HEAD + 'devices:\n  - { id: a, driver: fake, host: h }\nrules:\n  - { point: a/pm25, above: 5, below: 10 }\n',
      'wayside.yaml:7 rules[0].below: expected a number below "above" (5), got 10'],
    ['rule event in an agent namespace', HEAD + 'devices:\n  - { id: a, driver: fake, host: h }\nrules:\n  - { point: a/pm25, above: 5, event: device.fault }\n',
      'wayside.yaml:7 rules[0].event: expected a type outside the agent\'s own namespaces (device., point., outbox., uplink., agent.), like "air.pm25_high"'],
    ['rule point without device', HEAD + 'rules:\n  - { point: pm25, above: 5 }\n',
      'wayside.yaml:5 rules[0].point: expected "device/point", like "pole-sim/pm25", got "pm25"'],
    ['unclosed flow mapping', 'version: 1\ngateway: { id: pole-1\nuplink: {}\n', 'wayside.yaml:2:10 YAML syntax: the "{" of this mapping opened here is never closed'],
    ['duplicate YAML key', 'version: 1\nversion: 1\n', 'wayside.yaml:2:1 YAML syntax: Map keys must be unique'],
    ['empty file', '# nothing yet\n', 'wayside.yaml:1 the file is empty; expected at least "version: 1" and "gateway: { id: ... }"'],
    ['uplink enabled without url', 'version: 1\ngateway: { id: pole-1 }\nuplink:\n  clientId: x\n',
      'wayside.yaml:3 uplink.url: missing required field (needed while uplink.enabled is true)'],
    ['bad uplink scheme', 'version: 1\ngateway: { id: pole-1 }\nuplink: { url: "http://x" }\n',
      'wayside.yaml:3 uplink.url: expected a URL with scheme mqtt, mqtts, ws or wss, like "mqtts://platform.example:8883", got "http://x"'],
    ['missing env secret', 'version: 1\ngateway: { id: pole-1 }\nuplink:\n  url: mqtts://h:8883\n  password: { env: WAYSIDE_MQTT_PASSWORD }\n',
      'wayside.yaml:5 uplink.password: environment variable WAYSIDE_MQTT_PASSWORD is not set'],
    ['missing secret file', HEAD + 'devices:\n  - id: a\n    driver: fake\n    host: h\n    token: { file: secrets/token }\n',
      'wayside.yaml:8 devices[0].token: cannot read secret file /nonexistent-wayside/etc/secrets/token: no such file'],
    ['reconnect min above max', 'version: 1\ngateway: { id: pole-1 }\nuplink: { enabled: false, reconnect: { min: 2m, max: 1m } }\n',
      'wayside.yaml:3 uplink.reconnect.min: expected at most reconnect.max (1m), got 2m'],
  ] as const)('%s', (_name, text, line) => {
    const lines = errorsOf(text);
    if (typeof line === 'string') expect(lines).toEqual([line]);
    else {
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(line);
    }
  });

  it('reports every problem at once, in file order, with structured issues', () => {
    const text = 'version: 1\nhttp: { port: -1 }\ngateway: { id: pole-1, prot: 1 }\nuplink: { enabled: false }\n';
    try {
      parseConfig(text, 'configs/pole.yaml', registry, {});
      expect.unreachable();
    } catch (err) {
      expect((err as ConfigError).message.split('\n')).toEqual([
        'pole.yaml:2 http.port: expected integer 0-65535, got -1',
        'pole.yaml:3 gateway: unknown field "prot"',
      ]);
      expect((err as ConfigError).issues[0]).toEqual({ file: 'pole.yaml', line: 2, path: 'http.port', message: 'expected integer 0-65535, got -1' });
    }
  });

  it.each([
    ['a string where a mapping goes', 'password: [hunter2]', 'uplink.password: expected a string, { env: NAME } or { file: PATH }'],
    ['an extra key next to env', 'password: { env: X, hunter2: 1 }', 'uplink.password: expected a string, { env: NAME } or { file: PATH }'],
    ['a number', 'password: 48151623', 'uplink.password: expected a string, { env: NAME } or { file: PATH }'],
  ])('never shows a secret: %s', (_name, field, line) => {
    const msg = errorsOf(`version: 1\ngateway: { id: pole-1 }\nuplink:\n  url: mqtt://h\n  ${field}\n`).join('\n');
    expect(msg).toBe(`wayside.yaml:5 ${line}`);
  });

  it('does not leak a resolved secret into later errors', () => {
    const text = HEAD.replace('uplink: { enabled: false }', 'uplink: { url: mqtt://h, password: { env: PW } }') +
      'devices:\n  - { id: a, driver: fake, host: h, token: hunter2 }\n  - { id: a, driver: fake, host: h }\n';
    expect(errorsOf(text, { PW: 's3cret' }).join('\n')).not.toMatch(/hunter2|s3cret/);
  });

  it('names an unreadable config file', () => {
    expect(() => loadConfig('/nonexistent-wayside/wayside.yaml', registry)).toThrow(
      'wayside.yaml cannot read config file /nonexistent-wayside/wayside.yaml: no such file',
    );
  });
});

describe('good config files', () => {
  it('applies defaults and resolves paths against the config file', () => {
    const c = parseConfig('version: 1\ngateway: { id: pole-1 }\nlog:\nuplink: { url: "mqtts://platform.example:8883" }\n', FILE, registry, {});
    expect(c.gateway).toEqual({ id: 'pole-1', stateDir: '/nonexistent-wayside/etc/state' });
    expect(c.log).toEqual({ level: 'info' });
    expect(c.http).toEqual({ enabled: true, host: '127.0.0.1', port: 8080 });
    expect(c.clock).toEqual({ trust: 'auto' });
    expect(c.outbox).toEqual({
      path: '/nonexistent-wayside/etc/state/outbox.db',
      maxBytes: 256 * 2 ** 20,
      maxAge: 7 * 86_400_000,
      whenFull: 'drop-oldest',
      commitInterval: 5,
      memoryMaxBytes: 16 * 2 ** 20,
    });
    expect(c.uplink).toEqual({
      enabled: true,
      url: 'mqtts://platform.example:8883',
      clientId: 'pole-1',
      topicPrefix: 'wayside/v1',
      protocolVersion: 5,
      keepalive: 30_000,
      maxBatchRecords: 500,
      maxPayloadBytes: 256 * 1024,
      inflight: 16,
      reconnect: { min: 1000, max: 60_000 },
      connectTimeout: 30_000,
      commands: { maxConcurrent: 8, timeout: 30_000, maxRequestBytes: 64 * 1024 },
      duplicateBackoff: 300_000,
      maxRefusals: 3,
    });
    expect(c.defaults).toEqual({ publish: 'summaries', window: 60_000, offlineAfter: 300_000, maxPointsPerDevice: 256 });
    expect(c.devices).toEqual([]);
    expect(c.rules).toEqual([]);
  });

  it('fills device fields from defaults, keeps overrides and parses driver fields', () => {
    const c = parseConfig(
      HEAD +
        'defaults: { publish: both, window: 30s, offlineAfter: 2m }\n' +
        'devices:\n' +
        '  - { id: a, driver: fake, host: h }\n' +
        '  - id: b\n    driver: fake\n    host: h\n    port: 1502\n    enabled: false\n    publish: raw\n    window: 10\n' +
        '    perPoint:\n      noise_db: { window: 5s }\n      pm25: { publish: summaries }\n',
      FILE,
      registry,
      {},
    );
    expect(c.devices).toEqual([
      { id: 'a', driver: 'fake', host: 'h', port: 502, enabled: true, publish: 'both', window: 30_000, offlineAfter: 120_000, perPoint: {} },
      {
        id: 'b', driver: 'fake', host: 'h', port: 1502, enabled: false, publish: 'raw', window: 10_000, offlineAfter: 120_000,
        perPoint: { noise_db: { publish: 'raw', window: 5000 }, pm25: { publish: 'summaries', window: 10_000 } },
      },
    ]);
  });

  it('derives rule ids and defaults', () => {
    const c = parseConfig(
      HEAD + 'devices:\n  - { id: a, driver: fake, host: h }\nrules:\n' +
        '  - { point: a/pm25, above: 75 }\n  - { point: a/temp, below: -10, hysteresis: 2, for: 1m, severity: critical, event: air.cold }\n' +
        '  - { id: band, point: a/temp, above: 40, below: -10 }\n',
      FILE,
      registry,
      {},
    );
    expect(c.rules).toEqual([
      { id: 'a/pm25:above', point: 'a/pm25', above: 75, hysteresis: 0, for: 0, severity: 'warning', event: 'threshold' },
      { id: 'a/temp:below', point: 'a/temp', below: -10, hysteresis: 2, for: 60_000, severity: 'critical', event: 'air.cold' },
      { id: 'band', point: 'a/temp', above: 40, below: -10, hysteresis: 0, for: 0, severity: 'warning', event: 'threshold' },
    ]);
  });

  it('reads secrets from env and files and resolves TLS files', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'wayside-config-'));
    mkdirSync(path.join(dir, 'secrets'));
    writeFileSync(path.join(dir, 'secrets', 'token'), 'tok-123\n');
    writeFileSync(path.join(dir, 'ca.pem'), 'pem');
    const file = path.join(dir, 'wayside.yaml');
    writeFileSync(
      file,
      'version: 1\ngateway: { id: pole-1, stateDir: /var/lib/wayside }\n' +
        'outbox: { path: q/outbox.db }\n' +
        'uplink:\n  url: mqtts://h:8883\n  username: pole-1\n  password: { env: PW }\n' +
        '  tls: { ca: ca.pem, keyPassphrase: plain-pass }\n' +
        'devices:\n  - { id: a, driver: fake, host: h, token: { file: secrets/token } }\n',
    );
    const c = loadConfig(file, registry, { PW: 'from-env' });
    expect(c.gateway.stateDir).toBe('/var/lib/wayside');
    expect(c.outbox.path).toBe('/var/lib/wayside/q/outbox.db');
    expect(c.uplink.password).toBe('from-env');
    expect(c.uplink.tls).toEqual({ ca: path.join(dir, 'ca.pem'), keyPassphrase: 'plain-pass', rejectUnauthorized: true });
    expect(c.devices[0].token).toBe('tok-123');
  });

  it('accepts numbers as seconds and bytes, and a disabled uplink without url', () => {
    const c = parseConfig(
      'version: 1\ngateway: { id: pole-1 }\nuplink: { enabled: false, keepalive: 45 }\noutbox: { maxBytes: 2097152, maxAge: 3600 }\n',
      FILE,
      registry,
      {},
    );
    expect(c.uplink.enabled).toBe(false);
    expect(c.uplink.keepalive).toBe(45_000);
    expect(c.outbox.maxBytes).toBe(2 * 2 ** 20);
    expect(c.outbox.maxAge).toBe(3_600_000);
  });
});
