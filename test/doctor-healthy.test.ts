// `wayside doctor` against a healthy gateway (`node main.ts doctor --config ...`, a child process):
// a running agent (`wayside run`, with http, a deployed flow and a Modbus RTU device behind a socat
// pty), a real mosquitto with TLS, a password and an ACL. Every check passes (the clock may only
// say it cannot tell, on a machine without systemd); doctor opens nothing the agent owns, never
// kicks the agent off the broker, and its ACL probe leaves the retained state and the fleet
// tool's view alone. The broken setup is test/doctor.test.ts.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnAgent, type AgentProcess } from './helpers/agent-process.ts';
import { freePort, subscribeCollector } from './helpers/mosquitto.ts';
import { waitFor } from './helpers/wait.ts';
import { check, createDoctorWorld, doctor, modbusDevice, REGISTER, report, type DoctorWorld, type Run } from './support/doctor/world.ts';
import { createImage, startRtuSim } from './support/modbus/sim.ts';
import { connectFleet, generatePlatformKey } from '../provisioning/fleet/index.ts';

let w: DoctorWorld;
let agent: AgentProcess | undefined;
beforeAll(async () => {
  w = await createDoctorWorld();
}, 30_000);
afterAll(async () => {
  await agent?.term();
  await w?.destroy();
});

describe('wayside doctor, healthy gateway', () => {
  it('passes every check of a healthy gateway: running agent, TLS broker, a device that answers', async () => {
    const pair = await w.ptyPair();
    w.sims.push(await startRtuSim(pair.b, 9600, () => createImage(REGISTER)));
    const httpPort = await freePort();
    // One deployed flow (a tab with a comment node): the agent loads Node-RED for it.
    const stateOk = path.join(w.dir, 'state-ok');
    mkdirSync(path.join(stateOk, 'flows'), { recursive: true, mode: 0o700 });
    writeFileSync(path.join(stateOk, 'flows', 'flows.json'), JSON.stringify([
      { id: 'tab1', type: 'tab', label: 'pole' },
      { id: 'note1', type: 'comment', z: 'tab1', name: 'doctor test', info: '', x: 100, y: 40, wires: [] },
    ]));
    const config = w.writeConfig('healthy', [
      `gateway: { id: gw-ok, stateDir: ${stateOk} }`,
      `http: { enabled: true, host: 127.0.0.1, port: ${httpPort} }`,
      `uplink: { url: "mqtts://127.0.0.1:${w.validTlsPort}", username: gw-ok, password: right-pass, tls: { ca: ${w.caFile} } }`,
      'devices:', modbusDevice('meter', pair.a, 9600),
    ]);
    agent = spawnAgent(config);
    const health = async () => {
      try {
        return (await (await fetch(`http://127.0.0.1:${httpPort}/healthz`)).json()) as { status: string; problems: string[]; uplink: { connected: boolean; reconnects: number } };
      } catch {
        return undefined;
      }
    };
    let h: Awaited<ReturnType<typeof health>>;
    const t0 = Date.now();
    while (!((h = await health())?.status === 'ok' && h?.uplink.connected)) {
      if (Date.now() - t0 > 25_000) throw new Error(`agent not healthy: ${JSON.stringify(h)} ${agent.stderr()}`);
      await new Promise((r) => setTimeout(r, 100));
    }

    // The platform's side: the fleet tool and a plain subscriber of the state topic.
    const platform = { username: 'platform', password: 'platform-pass' };
    const fleet = await connectFleet({ url: w.broker.url, key: generatePlatformKey(path.join(w.dir, 'platform.key')), ...platform });
    const states = await subscribeCollector(w.broker.url, 'wayside/v1/gw-ok/state', platform);
    let j: Run;
    let text: Run;
    try {
      await fleet.ready();
      await waitFor(() => fleet.gateways().find((g) => g.id === 'gw-ok')?.online, 'the fleet to see gw-ok online');
      [j, text] = [await doctor(config, { json: true }), await doctor(config)];
      // The probe went out once per run, not retained; the retained state is still the agent's
      // birth, and the fleet tool still shows the gateway online.
      await states.waitUntil((m) => m.filter((x) => x.payload?.probe === 'doctor').length === 2);
      expect(states.messages.filter((x) => x.payload?.probe === 'doctor').map((x) => [x.retain, x.payload.gateway])).toEqual([[false, 'gw-ok'], [false, 'gw-ok']]);
      const late = await subscribeCollector(w.broker.url, 'wayside/v1/gw-ok/state', platform);
      const retained = await late.waitFor((m) => m.retain);
      await late.close();
      expect(retained.payload).toMatchObject({ v: 1, online: true, gateway: 'gw-ok' });
      expect(fleet.gateways().find((g) => g.id === 'gw-ok')).toMatchObject({ online: true });
    } finally {
      await states.close();
      await fleet.close();
    }
    const r = report(j);
    // This container runs no systemd and no NTP client: doctor cannot tell whether the clock is
    // synchronized and says so (warn); on a gateway with timedatectl it passes.
    const clock = check(r, 'clock');
    expect(['pass', 'warn']).toContain(clock.status);
    expect(r.exitCode).toBe(clock.status === 'pass' ? 0 : 1);
    expect(j.code).toBe(r.exitCode);
    const others = r.checks.filter((c) => c.id !== 'clock');
    expect(others.filter((c) => c.status !== 'pass' && c.status !== 'skip'), 'no check but the clock warns or fails').toEqual([]);
    const pid = agent.proc.pid;
    expect(check(r, 'agent')).toMatchObject({ status: 'pass', detail: expect.stringContaining(`running (pid ${pid})`) });
    expect(check(r, `port:${pair.a}`)).toMatchObject({ status: 'pass', detail: expect.stringContaining(`open in the running agent (pid ${pid}); not opened by doctor`) });
    expect(check(r, 'device:meter')).toMatchObject({ status: 'pass', detail: expect.stringMatching(/^online in the running agent/) });
    for (const id of ['platform.dns', 'platform.tcp', 'platform.tls', 'platform.mqtt', 'platform.acl', 'agent.uplink', 'outbox', 'disk', 'config']) {
      expect(check(r, id).status, id).toBe('pass');
    }
    expect(check(r, 'platform.tls').detail).toMatch(/^TLSv1\.[23], certificate for 127\.0\.0\.1, localhost valid until \d{4}-\d\d-\d\d \(36[45] days\)$/);
    expect(check(r, 'flows')).toMatchObject({ status: 'pass', detail: 'running: 1 flow, 1 nodes' });
    expect(text.out).toMatch(/PASS  platform: ACL +may publish wayside\/v1\/gw-ok\/state and subscribe wayside\/v1\/gw-ok\/cmd\/#/);
    // Doctor logged in as gw-ok-doctor: the agent's own session was never taken over.
    const after = await health();
    expect(after?.uplink).toMatchObject({ connected: true, reconnects: 0 });
  }, 40_000);
});
