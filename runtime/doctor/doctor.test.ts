// The doctor's parts one by one: the framework (timeouts, chains, exit codes), the renderers,
// the port check (missing, not a device, held, refused), the device probe through a driver, the
// TLS step against a real TLS server (expired, expiring, wrong host, untrusted), CONNACK codes,
// the clock's sources and the disk figures. The whole command runs in test/doctor.test.ts.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { makeTestPki, type TestPki } from '../../test/helpers/certs.ts';
import { serverCertWithDates } from '../../test/support/doctor/pki.ts';
import { waitFor } from '../../test/helpers/wait.ts';
import type { DeviceConfig, UplinkConfig, WaysideConfig } from '../config/index.ts';
import { createDriverRegistry, defineDriver } from '../drivers.ts';
import { silentLog } from '../log.ts';
import type { Ctx, DeviceHealth } from '../types.ts';
import { agentPids, configArg, findAgent, healthUrl } from './agent.ts';
import http from 'node:http';
import { exitCode, runChain, runCheck, type Check, type CheckResult } from './check.ts';
import { runDoctor } from './index.ts';
import { deviceFromAgent, faultKind, probeDevice } from './devices.ts';
import { connackProblem, platformChecks } from './platform.ts';
import { checkPort, modeText, scanProcesses } from './ports.ts';
import { startPtyPair } from '../../test/helpers/socat.ts';
import { makeReport, renderJson, renderText } from './render.ts';
import { checkClock, checkDisk, human, parseOffsetMs, type Exec } from './system.ts';

const DAY = 86_400_000;
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'wayside-doctor-unit-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const step = (id: string, run: Check['run'], timeoutMs = 1000): Check => ({ id, title: id, timeoutMs, run });

describe('framework', () => {
  it('bounds a check by its timeout, turns a throw into a fail, and ranks the exit code', async () => {
    const hung = await runCheck(step('hung', () => new Promise(() => {}), 50));
    expect(hung).toMatchObject({ status: 'fail', detail: 'hung: no answer within 0.1 s' });
    expect(hung.hint).toBeTruthy();
    expect(await runCheck(step('boom', async () => { throw new Error('bad'); }))).toMatchObject({ status: 'fail', detail: 'the check itself failed: bad' });
    const s = (status: CheckResult['status']) => ({ status });
    expect(exitCode([s('pass'), s('skip')])).toBe(0);
    expect(exitCode([s('pass'), s('warn'), s('skip')])).toBe(1);
    expect(exitCode([s('warn'), s('fail'), s('pass')])).toBe(2);
    expect(exitCode([])).toBe(0);
  });

  it('skips the steps after a failed one, naming it; a warning does not stop the chain', async () => {
    const out = await runChain([
      step('a', async () => ({ status: 'warn', detail: 'meh', hint: 'h' })),
      step('b', async () => ({ status: 'fail', detail: 'broken', hint: 'h' })),
      step('c', async () => ({ status: 'pass', detail: 'never' })),
    ], 5000);
    expect(out.map((r) => [r.id, r.status, r.detail])).toEqual([['a', 'warn', 'meh'], ['b', 'fail', 'broken'], ['c', 'skip', 'not tried: b failed']]);
  });

  it('cuts each step to what is left of the chain budget', async () => {
    const t0 = Date.now();
    const out = await runChain([step('slow', () => new Promise(() => {}), 10_000), step('next', async () => ({ status: 'pass', detail: '' }))], 100);
    expect(out.map((r) => r.status)).toEqual(['fail', 'skip']);
    expect(Date.now() - t0).toBeLessThan(5000);
  });
});

describe('renderers', () => {
  const checks: CheckResult[] = [
    { id: 'config', title: 'config', status: 'pass', detail: 'valid', ms: 1 },
    { id: 'port:/dev/ttyUSB0', title: 'port /dev/ttyUSB0', status: 'fail', detail: 'missing', hint: 'plug it in', ms: 2 },
    { id: 'flows', title: 'flows', status: 'skip', detail: 'off', ms: 0 },
  ];
  it('text: one line per check, the fix under a failure, a summary with the exit code', () => {
    const text = renderText(makeReport('/etc/wayside/wayside.yaml', 'gw-1', checks, 1234));
    expect(text).toBe([
      'wayside doctor: gateway gw-1, config /etc/wayside/wayside.yaml',
      '',
      'PASS  config             valid',
      'FAIL  port /dev/ttyUSB0  missing',
      '                         fix: plug it in',
      'SKIP  flows              off',
      '',
      '1 passed, 0 warnings, 1 failed, 1 skipped in 1.2 s: fail (exit 2)',
      '',
    ].join('\n'));
    expect(renderText(makeReport('/x', 'gw', checks, 1), { color: true })).toContain('\x1b[31mFAIL\x1b[0m');
  });
  it('JSON: the documented shape', () => {
    expect(JSON.parse(renderJson(makeReport('/x.yaml', 'gw-1', checks, 99.6)))).toEqual({ v: 1, gateway: 'gw-1', config: '/x.yaml', status: 'fail', exitCode: 2, ms: 100, checks });
  });
});

describe('ports', () => {
  it('a missing node, a dangling link, a regular file', () => {
    expect(checkPort(path.join(dir, 'nope'), ['m1'], { agentPids: [] })).toMatchObject({ status: 'fail', blocked: true, detail: `${path.join(dir, 'nope')} does not exist (used by m1)` });
    writeFileSync(path.join(dir, 'file'), '');
    expect(checkPort(path.join(dir, 'file'), ['a', 'b'], { agentPids: [] })).toMatchObject({ status: 'fail', detail: `${path.join(dir, 'file')} is not a serial device (a regular file; used by a, b)` });
  });

  it('holders: another process fails with a fix for its kind; the agent of this config passes without an open', () => {
    const tty = '/dev/null'; // a character device every system has
    let opened = 0;
    const open = () => { opened++; };
    const held = (cmdline: string, pid = 4321) => checkPort(tty, ['m1'], { agentPids: [99], holders: () => [{ pid, cmdline }], open });
    expect(held('/usr/sbin/ModemManager')).toMatchObject({ status: 'fail', detail: '/dev/null is held open by pid 4321 (/usr/sbin/ModemManager) (used by m1)', hint: expect.stringContaining('systemctl disable --now ModemManager') });
    expect(held('/sbin/agetty -o -p -- \\u --keep-baud 115200 ttyS0').hint).toContain('serial-getty@null');
    expect(held('node /opt/wayside/main.js run --config /etc/other.yaml').detail).toContain('another Wayside agent');
    expect(held('minicom -D /dev/ttyUSB0').hint).toContain('close it');
    expect(opened).toBe(0);
    expect(held('node main.ts run --config x', 99)).toMatchObject({ status: 'pass', blocked: true, agentPid: 99 });
    expect(checkPort(tty, ['m1'], { agentPids: [], agentRunning: true, holders: () => [], open })).toMatchObject({ status: 'pass', blocked: true });
    expect(opened).toBe(0);
    expect(checkPort(tty, ['m1'], { agentPids: [], holders: () => [], open })).toMatchObject({ status: 'pass', blocked: false });
    expect(opened).toBe(1);
  });

  it('an open refused by permissions names mode, owner, group and the usermod fix', () => {
    const eacces = () => { throw Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' }); };
    const r = checkPort('/dev/null', ['m1'], { agentPids: [], holders: () => [], open: eacces });
    if (process.getuid?.() === 0) {
      // root owns /dev/null: the node shuts out its own owner
      expect(r).toMatchObject({ status: 'fail', detail: 'permission denied: /dev/null is crw-rw-rw- root:root, owned by user root but shut to it (used by m1)', hint: expect.stringContaining('chmod 660 /dev/null') });
    } else {
      expect(r).toMatchObject({ status: 'fail', detail: expect.stringMatching(/^permission denied: \/dev\/null is crw-rw-rw- root:root, and user \S+ is (in|not in) group root \(used by m1\)$/) });
    }
    const ebusy = () => { throw Object.assign(new Error('EBUSY'), { code: 'EBUSY' }); };
    expect(checkPort('/dev/null', ['m1'], { agentPids: [], holders: () => [], open: ebusy }).hint).toContain('fuser -v /dev/null');
    expect(modeText(0o20660)).toBe('crw-rw----');
  });

  it('one /proc pass finds who holds a node, and the process providing a pty (socat) is no competitor', async () => {
    const file = path.join(dir, 'held');
    writeFileSync(file, '');
    const kid = spawn('sh', ['-c', `exec 3<"${file}"; exec sleep 30`], { stdio: 'ignore' });
    const pair = await startPtyPair(mkdtempSync(path.join(dir, 'pty-')));
    try {
      await waitFor(() => scanProcesses().holders(file).some((h) => h.pid === kid.pid), 'the holder');
      const scan = scanProcesses();
      expect(scan.holders(file)).toContainEqual({ pid: kid.pid, cmdline: 'sleep 30' });
      // socat holds both sides of the pair it made: it is their provider, not a holder to report.
      const socat = scan.holders(pair.a).map((h) => h.pid);
      expect(socat.length).toBeGreaterThan(0);
      expect(scan.providers(pair.a)).toEqual(socat);
      expect(scan.providers(file)).toEqual([]);
      expect(checkPort(pair.a, ['m1'], { agentPids: [], holders: scan.holders, providers: scan.providers })).toMatchObject({ status: 'pass', blocked: false });
      expect(checkPort('/dev/null', ['m1'], { agentPids: [], holders: () => scan.holders(file), providers: () => [] })).toMatchObject({ status: 'fail', detail: expect.stringContaining(`pid ${kid.pid} (sleep 30)`) });
    } finally {
      kid.kill('SIGKILL');
      await pair.stop();
    }
  });
});

describe('devices through their driver', () => {
  // Real driver definitions, registered and run through the registry as the agent runs them.
  const family = defineDriver({
    name: 'probe',
    description: 'a device that behaves as its config says',
    schema: z.object({ behave: z.enum(['answer', 'timeout', 'silent', 'hang']) }),
    create(device, ctx: Ctx) {
      let errors = 0;
      let lastError: string | undefined;
      let readings = 0;
      let timer: NodeJS.Timeout | undefined;
      const health = (): DeviceHealth => ({ device: device.id, driver: 'probe', state: 'online', errors, readings, lastError, errorsByKind: errors ? { timeout: errors } : {} });
      return {
        async start() {
          if (device.behave === 'hang') return new Promise<void>(() => {});
          timer = setTimeout(() => {
            if (device.behave === 'answer') {
              for (const [point, value] of [['voltage', 231.04], ['current', 1.5]] as const) {
                readings++;
                ctx.bus.emit('reading', { device: device.id, point, value, unit: point === 'voltage' ? 'V' : 'A', quality: 'good', ts: Date.now() });
              }
            } else if (device.behave === 'timeout') {
              errors++;
              lastError = 'timeout: no response within 100 ms';
            }
          }, 50);
        },
        async stop() { clearTimeout(timer); },
        health,
      };
    },
  });
  const registry = createDriverRegistry([family]);
  const dev = (behave: string) => ({ id: `d-${behave}`, driver: 'probe', enabled: true, behave } as unknown as DeviceConfig);
  const probe = (behave: string) => probeDevice(registry, dev(behave), { timeoutMs: 600, log: silentLog() });

  it('a reading passes with the values; an error fails with its fix; silence warns; a hung start fails in bound', async () => {
    const [answer, timeout, silent, hang] = await Promise.all([probe('answer'), probe('timeout'), probe('silent'), probe('hang')]);
    expect(answer).toEqual({ status: 'pass', detail: 'answered: voltage=231.04 V, current=1.5 A' });
    expect(timeout).toMatchObject({ status: 'fail', detail: 'no reading: timeout: no response within 100 ms', hint: expect.stringContaining('baud rate') });
    expect(silent).toMatchObject({ status: 'warn', detail: expect.stringMatching(/^no reading and no error within 0\.6 s/) });
    expect(hang).toMatchObject({ status: 'fail', detail: 'starting the driver: no answer within 0.6 s' });
    expect(await probeDevice(registry, { ...dev('answer'), driver: 'gone' }, { timeoutMs: 100, log: silentLog() })).toMatchObject({ status: 'fail', detail: 'no driver "gone" in this build' });
  });

  it('the running agent\'s view of a device', () => {
    const health = { gateway: 'gw', status: 'ok' as const, problems: [], uptimeS: 5, devices: [
      { device: 'a', driver: 'modbus', state: 'online', errors: 0, readings: 5, lastReadingTs: Date.now() - 2000 },
      { device: 'b', driver: 'modbus', state: 'offline', errors: 3, readings: 0, lastError: 'crc: bad CRC', errorsByKind: { crc: 3 } },
    ] };
    expect(deviceFromAgent('a', health)).toMatchObject({ status: 'pass', detail: expect.stringMatching(/^online in the running agent \(5 readings, 0 errors, last reading [23] s ago\)$/) });
    expect(deviceFromAgent('b', health)).toMatchObject({ status: 'fail', detail: 'offline in the running agent (0 readings, 3 errors): crc: bad CRC', hint: expect.stringContaining('garbled') });
    expect(deviceFromAgent('c', health).status).toBe('warn');
    expect(faultKind({ lastError: 'exception: illegal address' })).toBe('exception');
  });
});

describe('platform: TLS and MQTT codes', () => {
  let pki: TestPki;
  const servers: tls.Server[] = [];
  beforeAll(() => {
    pki = makeTestPki(path.join(dir, 'pki'));
  });
  afterAll(() => servers.forEach((s) => s.close()));

  async function tlsServer(cert: { cert: string; key: string }): Promise<number> {
    const s = tls.createServer({ cert: readFileSync(cert.cert), key: readFileSync(cert.key) }, (sock) => sock.end());
    s.on('tlsClientError', () => {});
    servers.push(s);
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    return (s.address() as { port: number }).port;
  }
  const uplink = (url: string, tlsCfg?: Partial<NonNullable<UplinkConfig['tls']>>) =>
    ({ enabled: true, url, clientId: 'gw', topicPrefix: 'wayside/v1', protocolVersion: 5, ...(tlsCfg && { tls: { rejectUnauthorized: true, ...tlsCfg } }) } as unknown as UplinkConfig);
  const tlsStep = async (u: UplinkConfig) => {
    const chain = platformChecks(u, 'gw', { stepMs: 2000 });
    const out = await runChain(chain.steps.slice(0, 3), 6000);
    await chain.close();
    return out[2];
  };

  it('expired, expiring soon, for another host, signed by an unknown CA, and fine', async () => {
    const now = Date.now();
    const expired = await tlsServer(serverCertWithDates(pki, path.join(dir, 'pki'), 'old', now - 40 * DAY, now - 10 * DAY));
    const soon = await tlsServer(serverCertWithDates(pki, path.join(dir, 'pki'), 'soon', now - DAY, now + 5 * DAY + 3_600_000));
    const fine = await tlsServer(serverCertWithDates(pki, path.join(dir, 'pki'), 'fine', now - DAY, now + 100 * DAY + 3_600_000));
    const ca = { ca: pki.caFile };
    expect(await tlsStep(uplink(`mqtts://127.0.0.1:${expired}`, ca))).toMatchObject({ status: 'fail', detail: expect.stringMatching(/^the broker's certificate expired on \d{4}-\d\d-\d\d \(10 days ago\)$/) });
    expect(await tlsStep(uplink(`mqtts://127.0.0.1:${soon}`, ca))).toMatchObject({ status: 'warn', detail: expect.stringMatching(/^the broker's certificate expires in 5 days/), hint: expect.stringContaining('renew') });
    expect(await tlsStep(uplink(`mqtts://127.0.0.1:${fine}`, { ...ca, servername: 'broker.example.com' }))).toMatchObject({
      status: 'fail', detail: "the broker's certificate is for 127.0.0.1, localhost, not broker.example.com", hint: expect.stringContaining('uplink.url'),
    });
    const other = makeTestPki(path.join(dir, 'other-pki'), { cn: 'another-ca' });
    expect(await tlsStep(uplink(`mqtts://127.0.0.1:${fine}`, { ca: other.caFile }))).toMatchObject({ status: 'fail', detail: expect.stringMatching(/^the broker's certificate is not trusted \(\w+; issuer wayside-test-ca\)$/), hint: expect.stringContaining('uplink.tls.ca') });
    expect(await tlsStep(uplink(`mqtts://127.0.0.1:${fine}`, { ca: other.caFile, rejectUnauthorized: false }))).toMatchObject({ status: 'warn', detail: expect.stringContaining('rejectUnauthorized is false') });
    expect(await tlsStep(uplink(`mqtts://127.0.0.1:${fine}`, ca))).toMatchObject({ status: 'pass', detail: expect.stringMatching(/certificate for 127\.0\.0\.1, localhost valid until .* \(100 days\)$/) });
    expect(await tlsStep(uplink(`mqtt://127.0.0.1:${fine}`))).toMatchObject({ status: 'skip' });
  });

  it('names CONNACK refusals of both protocol versions', () => {
    expect(connackProblem(0x86, 5, 'gw').detail).toBe('the broker refused the user name or password of user "gw" (reason 0x86 Bad User Name or Password)');
    expect(connackProblem(4, 4, undefined).detail).toContain('an anonymous client');
    expect(connackProblem(5, 4, 'gw').hint).toContain('uplink.password');
    expect(connackProblem(0x84, 5, 'gw').hint).toBe('set uplink.protocolVersion: 4');
    expect(connackProblem(0x99, 5, 'gw').detail).toBe('the broker refused the connection (code 153)');
  });

  it('a name that does not resolve fails at DNS and skips the rest', async () => {
    const chain = platformChecks(uplink('mqtt://no-such-host.invalid:1883'), 'gw', { stepMs: 2500 });
    const out = await runChain(chain.steps, 6000);
    await chain.close();
    expect(out[0]).toMatchObject({ id: 'platform.dns', status: 'fail' });
    expect(out[0].detail).toMatch(/^no-such-host\.invalid: (no such host|lookup failed)|no answer within/);
    expect(out.slice(1).every((r) => r.status === 'skip')).toBe(true);
  });
});

describe('clock and disk', () => {
  const config = (over: Partial<{ trust: string; maxBytes: number; stateDir: string }> = {}) => ({
    gateway: { id: 'gw', stateDir: over.stateDir ?? dir },
    clock: { trust: over.trust ?? 'auto' },
    outbox: { path: path.join(over.stateDir ?? dir, 'outbox.db'), maxBytes: over.maxBytes ?? 256 << 20 },
  } as unknown as WaysideConfig);
  const tools = (answers: Record<string, string | undefined>): Exec => async (file, args) => answers[`${file} ${args.join(' ')}`];

  it('timedatectl: synchronized with its offset, not synchronized, NTP off; missing tools warn, never fail', async () => {
    const synced = tools({ 'timedatectl show': 'NTP=yes\nNTPSynchronized=yes\n', 'timedatectl timesync-status': '       Server: 10.0.0.1\n       Offset: -2.345ms\n' });
    expect(await checkClock(config(), { exec: synced })).toMatchObject({ status: 'pass', detail: expect.stringMatching(/^NTP synchronized \(timedatectl\), offset -2\.3 ms/) });
    const far = tools({ 'timedatectl show': 'NTP=yes\nNTPSynchronized=yes\n', 'timedatectl timesync-status': 'Offset: +2.5s\n' });
    expect(await checkClock(config(), { exec: far })).toMatchObject({ status: 'warn', detail: expect.stringContaining('2500 ms off') });
    expect(await checkClock(config(), { exec: tools({ 'timedatectl show': 'NTP=yes\nNTPSynchronized=no\n' }) })).toMatchObject({ status: 'warn', detail: expect.stringContaining('not synchronized yet') });
    expect(await checkClock(config(), { exec: tools({ 'timedatectl show': 'NTP=no\nNTPSynchronized=no\n' }) })).toMatchObject({ status: 'warn', hint: 'turn it on: sudo timedatectl set-ntp true' });
    const none = tools({});
    expect(await checkClock(config(), { exec: none, syncMarker: path.join(dir, 'no-marker') })).toMatchObject({ status: 'warn', detail: expect.stringContaining('cannot tell') });
    expect(await checkClock(config({ trust: 'always' }), { exec: none, syncMarker: path.join(dir, 'no-marker') })).toMatchObject({ status: 'pass' });
    writeFileSync(path.join(dir, 'marker'), '');
    expect(await checkClock(config(), { exec: none, syncMarker: path.join(dir, 'marker') })).toMatchObject({ status: 'pass', detail: expect.stringContaining('marker exists') });
    const chrony = tools({ 'chronyc tracking': 'Reference ID    : 0A000001\nSystem time     : 0.000120 seconds slow of NTP time\nLeap status     : Normal\n' });
    expect(await checkClock(config(), { exec: chrony, syncMarker: path.join(dir, 'no-marker') })).toMatchObject({ status: 'pass', detail: expect.stringContaining('chrony), offset -0.1 ms') });
    expect(await checkClock(config(), { exec: none, now: () => Date.UTC(1970, 0, 2) })).toMatchObject({ status: 'fail', detail: expect.stringContaining('never set') });
    expect(parseOffsetMs('Offset: +850us')).toBeCloseTo(0.85);
  });

  it('disk: room for the outbox to reach its cap, little room, no room; with the figures', () => {
    const fs = (freeMiB: number, totalMiB = 8192) => ({ statfs: () => ({ bavail: freeMiB * 256, bsize: 4096, blocks: totalMiB * 256 }) });
    writeFileSync(path.join(dir, 'outbox.db'), Buffer.alloc(1 << 20));
    expect(checkDisk(config(), fs(4096))).toEqual({ status: 'pass', detail: `4 GiB free of 8 GiB on ${dir}; the outbox holds 1 MiB of its 256 MiB cap` });
    expect(checkDisk(config(), fs(300))).toMatchObject({ status: 'warn', detail: expect.stringContaining('little room left besides the outbox\'s (45 MiB)') });
    const full = checkDisk(config(), fs(100));
    expect(full).toMatchObject({ status: 'fail', detail: expect.stringContaining('the disk fills before the outbox reaches its cap') });
    expect(full.hint).toContain('free 155 MiB or more');
    expect(human(1536)).toBe('1.5 KiB');
    expect(checkDisk(config({ stateDir: path.join(dir, 'not', 'yet') }), fs(4096)).detail).toContain(`on ${dir};`);
  });
});

describe('agent discovery', () => {
  it('reads --config from an argument list and finds /healthz on loopback', () => {
    expect(configArg(['node', 'main.ts', 'run', '--config', 'a.yaml'])).toBe('a.yaml');
    expect(configArg(['wayside', 'run', '-c', '/etc/w.yaml'])).toBe('/etc/w.yaml');
    expect(configArg(['wayside', 'run', '--config=/x.yaml'])).toBe('/x.yaml');
    expect(configArg(['wayside', 'run'])).toBeUndefined();
    expect(healthUrl({ enabled: true, host: '0.0.0.0', port: 8080 })).toBe('http://127.0.0.1:8080/healthz');
    expect(healthUrl({ enabled: true, host: '::', port: 80 })).toBe('http://[::1]:80/healthz');
  });

  it('finds `run --config <this file>` processes, a relative path resolved in their working directory', async () => {
    const file = path.join(dir, 'agent.yaml');
    writeFileSync(file, '');
    // A process whose command line is an agent's (`node -e ... main.ts run --config agent.yaml`), run from `dir`.
    const kid = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)', 'main.ts', 'run', '--config', 'agent.yaml'], { cwd: dir, stdio: 'ignore' });
    try {
      await waitFor(() => agentPids(file).includes(kid.pid!), 'the agent-like process');
      expect(agentPids(path.join(dir, 'other.yaml'))).toEqual([]);
    } finally {
      kid.kill('SIGKILL');
    }
  });

  it('takes /healthz only from this gateway', async () => {
    const srv = http.createServer((_req, res) => res.end(JSON.stringify({ gateway: 'someone-else', status: 'ok', problems: [], uptimeS: 1 })));
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as { port: number }).port;
    const cfg = (id: string) => ({ gateway: { id }, http: { enabled: true, host: '127.0.0.1', port } } as unknown as WaysideConfig);
    try {
      expect(await findAgent(path.join(dir, 'none.yaml'), cfg('gw'), 1000)).toMatchObject({ pids: [], healthProblem: expect.stringContaining('answers for gateway "someone-else", not gw') });
      expect((await findAgent(path.join(dir, 'none.yaml'), cfg('someone-else'), 1000)).health).toMatchObject({ gateway: 'someone-else' });
    } finally {
      srv.close();
    }
    const closed = await findAgent(path.join(dir, 'none.yaml'), cfg('gw'), 1000);
    expect(closed.healthProblem).toMatch(/connection refused|ECONNRESET|socket hang up/);
  });
});

describe('the config check', () => {
  const registry = createDriverRegistry([]);
  it('a missing file and an invalid one fail the run at once (exit 2), naming the fix', async () => {
    const missing = await runDoctor({ configFile: path.join(dir, 'none.yaml'), registry });
    expect(missing).toMatchObject({ status: 'fail', exitCode: 2, checks: [{ id: 'config', status: 'fail', hint: 'name the file: wayside doctor --config <file>' }] });
    expect(missing.gateway).toBeUndefined();
    const bad = path.join(dir, 'bad.yaml');
    writeFileSync(bad, 'version: 1\ngateway: { id: gw }\nuplink: { url: "ftp://x" }\n');
    const r = await runDoctor({ configFile: bad, registry });
    expect(r.checks).toHaveLength(1);
    expect(r.checks[0]).toMatchObject({ status: 'fail', detail: expect.stringMatching(/^bad\.yaml:3 uplink\.url: /), hint: `fix the lines named; \`wayside check --config ${bad}\` lists every problem` });
  });

  it('a valid file with the uplink off: config passes, the platform is skipped, no device means no port or device check', async () => {
    const ok = path.join(dir, 'ok.yaml');
    writeFileSync(ok, `version: 1\ngateway: { id: gw-unit, stateDir: ${path.join(dir, 'st')} }\nhttp: { enabled: false }\nuplink: { enabled: false }\n`);
    const r = await runDoctor({ configFile: ok, registry });
    expect(r.gateway).toBe('gw-unit');
    expect(r.checks.map((c) => [c.id, c.status])).toEqual([
      ['config', 'pass'], ['agent', 'warn'], ['platform', 'skip'], ['agent.uplink', 'skip'], ['outbox', 'skip'], ['flows', 'skip'], ['clock', r.checks.find((c) => c.id === 'clock')!.status], ['disk', 'pass'],
    ]);
  });
});
