// `wayside doctor` against a broken setup, as a technician runs it (`node main.ts doctor
// --config ...`, a child process) with real parts: socat pty pairs with the suite's RTU simulator
// behind them, a port held open by another process, a port missing, a port the user may not
// open, a broker port where nothing listens, one that never answers, and a real mosquitto with
// a password file, an ACL and a TLS listener with an expired certificate. Each fault is named
// with its fix, and the whole run stays within the 10 s the issue allows.
// The healthy setup is test/doctor-healthy.test.ts.
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, realpathSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from './helpers/mosquitto.ts';
import { waitFor } from './helpers/wait.ts';
import { startBaudBoundRtuSim } from './support/doctor/baud.ts';
import { check, createDoctorWorld, doctor, modbusDevice, REGISTER, report, type DoctorWorld } from './support/doctor/world.ts';
import { createImage, startRtuSim } from './support/modbus/sim.ts';
import { portHolders } from '../runtime/ports.ts';

const NOBODY = 65534;
let w: DoctorWorld;
beforeAll(async () => {
  w = await createDoctorWorld();
}, 30_000);
afterAll(() => w?.destroy());

describe('wayside doctor, broken setup', () => {
  it('names each fault of a broken setup with its fix, within 10 s', async () => {
    // Devices: one missing port, one port held by another process, one device at 9600 baud
    // configured at 19200, one pty with nothing behind it, and one device that answers.
    const [locked, wrongBaud, dead, good, denied] = [await w.ptyPair(), await w.ptyPair(), await w.ptyPair(), await w.ptyPair(), await w.ptyPair()];
    w.sims.push(await startBaudBoundRtuSim(wrongBaud.a, wrongBaud.b, 9600, () => createImage(REGISTER)));
    w.sims.push(await startRtuSim(good.b, 9600, () => createImage(REGISTER)));
    const holder = spawn('bash', ['-c', `exec 3<>${locked.a}; exec sleep 60`], { stdio: 'ignore' });
    w.kids.push(holder);
    await waitFor(() => portHolders(locked.a).some((h) => h.pid === holder.pid), 'the holder to open the port');
    const missing = path.join(w.dir, 'ttyUSB-missing');
    const deadBroker = await freePort(); // nothing listens there
    // A broker that takes the connection and never answers (hung, or a firewall that swallows).
    const mute = net.createServer(() => {});
    await new Promise<void>((r) => mute.listen(0, '127.0.0.1', r));

    const state = (n: string) => `gateway: { id: ${n}, stateDir: ${path.join(w.dir, 'state-' + n)} }`;
    const noHttp = 'http: { enabled: false }';
    const devices = w.writeConfig('devices', [
      state('gw-dev'), noHttp,
      `uplink: { url: "mqtt://127.0.0.1:${deadBroker}" }`,
      'devices:',
      modbusDevice('missing', missing, 9600),
      modbusDevice('locked', locked.a, 9600),
      modbusDevice('wrongbaud', wrongBaud.a, 19200),
      modbusDevice('dead', dead.a, 9600),
      modbusDevice('good', good.a, 9600),
    ]);
    const hung = w.writeConfig('hung', [state('gw-hung'), noHttp, `uplink: { url: "mqtt://127.0.0.1:${(mute.address() as net.AddressInfo).port}" }`]);
    const password = w.writeConfig('password', [state('gw-pass'), noHttp, `uplink: { url: "${w.broker.url}", username: gw-pass, password: wrong-pass }`]);
    const aclDenied = w.writeConfig('acl', [state('gw-acl'), noHttp, `uplink: { url: "${w.broker.url}", username: gw-acl, password: right-pass }`]);
    const expiredTls = w.writeConfig('tls', [state('gw-tls'), noHttp, `uplink: { url: "${w.broker.tlsUrl}", username: gw-tls, password: right-pass, tls: { ca: ${w.caFile} } }`]);
    // As root: a port of group dialout, mode 0660, opened by a user outside the group (nobody).
    // Otherwise (root alone can run doctor as another user): the user's own port with mode 000.
    const asRoot = process.getuid?.() === 0;
    const pts = realpathSync(denied.a);
    if (asRoot) {
      chownSync(pts, 0, 20);
      chmodSync(pts, 0o660);
    } else chmodSync(pts, 0);
    const stateDir = path.join(w.dir, 'state-nobody');
    mkdirSync(stateDir, { mode: 0o777 });
    chmodSync(stateDir, 0o777);
    const permission = w.writeConfig('permission', [
      `gateway: { id: gw-perm, stateDir: ${stateDir} }`, noHttp, 'uplink: { enabled: false }', 'devices:', modbusDevice('denied', denied.a, 9600),
    ], 0o644);

    const [d, p, a, t, n, hg] = await Promise.all([
      doctor(devices, { json: true }), doctor(password, { json: true }), doctor(aclDenied, { json: true }),
      doctor(expiredTls, { json: true }), doctor(permission, asRoot ? { uid: NOBODY } : {}), doctor(hung, { json: true }),
    ]).finally(() => mute.close());

    // Devices and a dead broker.
    const dr = report(d);
    expect(d.code, d.err).toBe(2);
    expect(dr).toMatchObject({ v: 1, gateway: 'gw-dev', status: 'fail', exitCode: 2 });
    expect(check(dr, `port:${missing}`)).toMatchObject({ status: 'fail', detail: expect.stringContaining(`${missing} does not exist (used by missing)`), hint: expect.stringContaining('/dev/serial/by-id/') });
    expect(check(dr, 'device:missing')).toMatchObject({ status: 'skip', detail: expect.stringContaining('port') });
    expect(check(dr, `port:${locked.a}`)).toMatchObject({ status: 'fail', detail: expect.stringMatching(new RegExp(`held open by pid ${holder.pid} \\(sleep 60\\)`)), hint: expect.stringContaining(`kill ${holder.pid}`) });
    expect(check(dr, 'device:locked').status).toBe('skip');
    expect(check(dr, `port:${wrongBaud.a}`).status).toBe('pass');
    expect(check(dr, 'device:wrongbaud')).toMatchObject({ status: 'fail', detail: expect.stringMatching(/timeout|no response within/), hint: expect.stringContaining('baud rate') });
    expect(check(dr, 'device:dead')).toMatchObject({ status: 'fail', detail: expect.stringMatching(/timeout|no response within/), hint: expect.stringContaining('wiring') });
    expect(check(dr, 'device:good')).toMatchObject({ status: 'pass', detail: 'answered: v=1234' });
    expect(check(dr, 'platform.dns').status).toBe('pass');
    expect(check(dr, 'platform.tcp')).toMatchObject({ status: 'fail', detail: `127.0.0.1:${deadBroker}: connection refused (nothing listens there)`, hint: expect.stringContaining('uplink.url') });
    for (const id of ['platform.tls', 'platform.mqtt', 'platform.acl']) expect(check(dr, id)).toMatchObject({ status: 'skip', detail: 'not tried: platform: TCP failed' });
    expect(check(dr, 'agent')).toMatchObject({ status: 'warn', detail: expect.stringContaining('not running') });
    // Dead devices and a dead broker end because every step is bounded (4 s per device, 8 s for
    // the platform chain, all in parallel): a hang guard with slack for a loaded CI machine, not a
    // speed figure (quiet runs report 3-4 s; docs/doctor.md).
    expect(dr.ms).toBeLessThan(15_000);
    expect(dr.checks.filter((c) => (c.status === 'warn' || c.status === 'fail') && !c.hint), 'every warning and failure has a hint').toEqual([]);

    // A broker that never answers CONNECT: bounded, named.
    const hr = report(hg);
    expect(check(hr, 'platform.tcp').status).toBe('pass');
    expect(check(hr, 'platform.mqtt')).toMatchObject({ status: 'fail', detail: expect.stringMatching(/did not answer CONNECT|no answer within/), hint: expect.stringContaining('MQTT port') });
    expect(check(hr, 'platform.acl').status).toBe('skip');
    expect(hr.ms).toBeLessThan(15_000);

    // Wrong password.
    const pr = report(p);
    expect(p.code).toBe(2);
    expect(check(pr, 'platform.tls').status).toBe('skip');
    expect(check(pr, 'platform.mqtt')).toMatchObject({
      // mosquitto answers a wrong password with 0x87 Not authorized (not 0x86): doctor names both causes.
      status: 'fail', detail: 'the broker refused the login of user "gw-pass": a wrong user name or password, or an account that may not connect (reason 0x87 Not authorized)', hint: expect.stringContaining('uplink.password'),
    });
    expect(check(pr, 'platform.acl').status).toBe('skip');

    // ACL: the broker takes the login, refuses the state topic (PUBACK 0x87).
    const ar = report(a);
    expect(check(ar, 'platform.mqtt')).toMatchObject({ status: 'pass', detail: expect.stringContaining('client id gw-acl-doctor') });
    expect(check(ar, 'platform.acl')).toMatchObject({
      status: 'fail', detail: 'the broker refused the state topic wayside/v1/gw-acl/state (PUBACK 0x87 Not authorized)', hint: expect.stringContaining('ACL must let user "gw-acl" publish wayside/v1/gw-acl/state'),
    });

    // Expired broker certificate.
    const tr = report(t);
    expect(check(tr, 'platform.tcp').status).toBe('pass');
    expect(check(tr, 'platform.tls')).toMatchObject({ status: 'fail', detail: expect.stringMatching(/^the broker's certificate expired on 2020-02-01 \(\d+ days ago\)$/), hint: expect.stringContaining('clock') });
    expect(check(tr, 'platform.mqtt').status).toBe('skip');

    // Permission (text output, as a technician reads it).
    expect(n.code, n.err).toBe(2);
    const at = denied.a.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    if (asRoot) {
      expect(n.out).toMatch(new RegExp(`FAIL  port ${at} +permission denied: ${at} is crw-rw---- root:dialout, and user nobody is not in group dialout \\(used by denied\\)`));
      expect(n.out).toContain('fix: add the user to the port\'s group: sudo usermod -aG dialout nobody');
    } else {
      expect(n.out).toMatch(new RegExp(`FAIL  port ${at} +permission denied: ${at} is c--------- \\S+:\\S+, owned by user \\S+ but shut to it \\(used by denied\\)`));
      expect(n.out).toContain(`fix: give it a usable mode: chmod 660 ${denied.a}`);
    }
    expect(n.out).toMatch(/SKIP  device denied +not read: port .* failed its check/);
    expect(n.out).toMatch(/\d+ passed, \d+ warnings?, \d+ failed, \d+ skipped in [\d.]+ s: fail \(exit 2\)\n$/);
  }, 40_000);
});
