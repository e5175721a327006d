// The provisioning service inside a real agent, commands over a real mosquitto through the
// agent's own dispatcher: `versions.get` answers unsigned; `agent.restart` runs only for a good
// envelope (then answers and restarts); every attack is answered with its code, raised as an
// `audit.refused` event that reaches the platform on up/event, and never runs the handler.
// Health shows the identity and the refusals by code.
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgent, type Agent } from '../runtime/agent.ts';
import { parseConfig } from '../runtime/config/index.ts';
import { createDriverRegistry } from '../runtime/drivers.ts';
import { silentLog } from '../runtime/log.ts';
import { stateDir } from '../runtime/state.ts';
import { startMosquitto, subscribeCollector, type Collector, type Mosquitto } from '../test/helpers/mosquitto.ts';
import { sleep } from '../test/helpers/wait.ts';
import { provisioningSection } from './config.ts';
import { applyBundle } from './enroll.ts';
import { makeBundle, signCommand } from './fleet/sign.ts';
import { createProvisioningService, type ProvisioningHealth } from './service.ts';

const GW = 'prov-gw';
const platformKey = generateKeyPairSync('ed25519').privateKey;
const intruderKey = generateKeyPairSync('ed25519').privateKey;
let broker: Mosquitto;
let platform: Collector;
let agent: Agent;
/** At each restart: how many command responses the agent's dispatcher had handed to the uplink. */
const restarts: number[] = [];
const dir = mkdtempSync(join(tmpdir(), 'wayside-prov-svc-'));

beforeAll(async () => {
  broker = await startMosquitto();
  platform = await subscribeCollector(broker.url, `wayside/v1/${GW}/#`);
  // Enrolled before the agent runs, as `wayside provision` would.
  applyBundle(stateDir(join(dir, 'provisioning')), makeBundle(platformKey, { gw: GW, site: 'Lab', tags: { rack: '2' }, broker: { url: broker.url, username: GW, password: 'x' } }), { method: 'offline' });
  const registry = createDriverRegistry([], { sections: { provisioning: provisioningSection } });
  const config = parseConfig(
    `version: 1
gateway: { id: ${GW}, stateDir: ${dir} }
http: { enabled: false }
clock: { trust: always }
uplink: { url: "${broker.url}", reconnect: { min: 200ms, max: 1s } }
provisioning: { maxEnvelopeBytes: 16KiB, clockSkew: 5s }
`,
    join(dir, 'wayside.yaml'),
    registry,
  );
  // Frameworks before "product sections reach the parsed config" (main e446157) parse the
  // section but drop it from the resolved config: put the parsed section where it now lands.
  const cfg = config as unknown as Record<string, unknown>;
  cfg.provisioning ??= provisioningSection.parse({ maxEnvelopeBytes: '16KiB', clockSkew: '5s' });
  const svc = createProvisioningService({ restart: () => restarts.push((agent.health() as unknown as { uplink: { commands: { ok: number } } }).uplink.commands.ok), restartDelayMs: 50 });
  agent = await startAgent({ config, services: [svc], log: silentLog() });
  await platform.waitFor((m) => m.topic === `wayside/v1/${GW}/state` && m.payload?.online === true);
});
afterAll(async () => {
  await agent?.stop('test');
  await platform?.close();
  await broker?.destroy();
});

const cmdTopic = (name: string) => `wayside/v1/${GW}/cmd/${name}`;
const restart = (body: unknown, raw?: string | Buffer) => platform.request(cmdTopic('agent.restart'), body, 10_000, raw === undefined ? {} : { raw });
const sign = (over: Partial<Parameters<typeof signCommand>[1]> = {}, key = platformKey) => signCommand(key, { cmd: 'agent.restart', gw: GW, payload: { reason: 'test' }, ...over });
const audits = (code: string) => platform.messages.filter((m) => m.topic.endsWith('/up/event')).flatMap((m) => m.payload.records).map((r: { body: { type: string; data: { code?: string } } }) => r.body).filter((b: { type: string; data: { code?: string } }) => b.type === 'audit.refused' && b.data.code === code);

describe('provisioning service in an agent', () => {
  it('versions.get answers unsigned; agent.restart and versions.get are announced in the birth', async () => {
    const birth = platform.messages.find((m) => m.topic.endsWith('/state') && m.payload?.online)!;
    expect(birth.payload.capabilities).toEqual(expect.arrayContaining(['cmd:versions.get', 'cmd:agent.restart']));
    const r = await platform.request(cmdTopic('versions.get'), undefined, 10_000, { raw: '' });
    expect(r.payload).toMatchObject({ v: 1, ok: true, result: { v: 1, gateway: GW, enrolled: true, versions: { protocol: 1 }, commands: {} } });
  });

  const attacks: [string, () => { body?: unknown; raw?: string | Buffer }, string][] = [
    ['unsigned', () => ({ body: { reason: 'please' } }), 'unsigned'],
    ['wrong key', () => ({ body: sign({}, intruderKey) }), 'bad_signature'],
    ['expired', () => ({ body: sign({ now: Date.now() - 3600_000, ttlMs: 60_000 }) }), 'expired'],
    ["another gateway's", () => ({ body: sign({ gw: 'other-gw' }) }), 'wrong_gateway'],
    ['over the provisioning cap (30 KB)', () => ({ body: sign({ payload: { blob: 'x'.repeat(30_000) } }) }), 'too_large'],
  ];
  for (const [what, make, code] of attacks) {
    it(`refuses ${what}: ${code}, audited on the uplink, not restarted`, async () => {
      const { body, raw } = make();
      const r = await restart(body, raw);
      expect(r.payload).toMatchObject({ v: 1, ok: false, error: { code } });
      await platform.waitUntil(() => audits(code).length > 0);
      expect(audits(code)[0]).toMatchObject({ type: 'audit.refused', severity: 'warning', data: { cmd: 'agent.restart', code, reason: expect.any(String) } });
      expect(restarts).toEqual([]);
    });
  }

  it('truncated JSON is refused by the dispatcher (bad_request) before any handler', async () => {
    const r = await restart(undefined, JSON.stringify(sign()).slice(0, 80));
    expect(r.payload).toMatchObject({ ok: false, error: { code: 'bad_request' } });
    expect(restarts).toEqual([]);
  });

  it('a 10 MB envelope never reaches the handler (the broker drops it above the announced packet size)', async () => {
    await platform.client.publishAsync(cmdTopic('agent.restart'), Buffer.from(JSON.stringify(sign({ payload: { blob: 'x'.repeat(10 * 1024 * 1024) } }))), {
      qos: 1, properties: { responseTopic: 'reply/big', correlationData: Buffer.from('big') },
    });
    // A request sent after it on the same connection is answered: the big one was dealt with by then.
    await platform.request(cmdTopic('versions.get'), {});
    await sleep(100);
    expect(platform.messages.filter((m) => m.topic === 'reply/big')).toEqual([]);
    expect(restarts).toEqual([]);
  });

  it('a good envelope answers, then restarts once; its replay and an older version are refused', async () => {
    const env = sign();
    const r = await restart(env);
    expect(r.payload).toEqual({ v: 1, ok: true, result: { restarting: true, inMs: 50 } });
    const okBefore = (agent.health() as unknown as { uplink: { commands: { ok: number } } }).uplink.commands.ok;
    await platform.waitUntil(() => restarts.length === 1);
    // The restart came after the response was handed to the uplink (which drains it on stop).
    expect(restarts[0]).toBe(okBefore);
    expect((await restart(env)).payload).toMatchObject({ ok: false, error: { code: 'replayed' } });
    expect((await restart(sign({ version: env.version - 1 }))).payload).toMatchObject({ ok: false, error: { code: 'stale_version' } });
    await sleep(150);
    expect(restarts).toHaveLength(1);
    const v = await platform.request(cmdTopic('versions.get'), {});
    expect(v.payload.result.commands).toEqual({ 'agent.restart': env.version });
    await platform.waitUntil(() => platform.messages.some((m) => m.topic.endsWith('/up/event') && m.payload.records.some((x: { body: { type: string } }) => x.body.type === 'audit.accepted')));
  });

  it('health shows the identity and the refusals by code', async () => {
    const h = (await platform.request(cmdTopic('health'), {})).payload.result;
    const section = h.provisioning as ProvisioningHealth;
    expect(section).toMatchObject({ enrolled: true, gatewayId: GW, site: 'Lab', tags: { rack: '2' }, method: 'offline', accepted: 1 });
    expect(section.platformKeyFingerprint).toMatch(/^SHA256:/);
    expect(section.refused).toEqual({ unsigned: 1, bad_signature: 1, expired: 1, wrong_gateway: 1, too_large: 1, replayed: 1, stale_version: 1 });
    expect(h.problems).toEqual([]);
  });
});
