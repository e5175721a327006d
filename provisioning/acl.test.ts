// The generated broker ACL, enforced by a real mosquitto: a gateway publishes only its own
// state/up/res topics and reads only its own commands; it cannot publish a command (not even to
// itself), nor read or write another gateway's topics; the platform user reads everything and
// publishes commands; the claim user only asks and reads claim answers.
// Proof of a refused publish: the platform subscriber never gets it, while a later allowed
// publish of the same client does (so delivery works and the order is known). Proof of a refused
// read: mosquitto 2.0.11's acl_file grants the SUBACK but filters every message by the read
// rule, so the test asserts the SUBACK code (0x80/0x87 where the broker refuses up front) or,
// when granted, that nothing arrives while the own-topic control message does.
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep } from '../test/helpers/wait.ts';
import { CLAIM_PASS, CLAIM_USER, connectAs, PLATFORM_PASS, PLATFORM_USER, startAclBroker, type AclBroker } from '../test/support/provisioning/broker.ts';
import { mosquittoAcl } from './acl.ts';

let broker: AclBroker;
const open: MqttClient[] = [];
beforeAll(async () => {
  broker = await startAclBroker(['gw-a', 'gw-b']);
});
afterAll(async () => {
  for (const c of open) await c.endAsync(true).catch(() => {});
  await broker?.destroy();
});

async function client(user: string, pass: string, pv: 4 | 5 = 5) {
  const c = await connectAs(broker.url, user, pass, pv);
  open.push(c);
  return c;
}

/** A client that collects what it receives. */
async function listener(user: string, pass: string, filters: string[]) {
  const c = await client(user, pass);
  const got: string[] = [];
  c.on('message', (t, p) => got.push(`${t} ${p.toString()}`));
  const granted = await c.subscribeAsync(filters, { qos: 1 });
  return { c, got, granted };
}

const waitFor = async (cond: () => boolean, what: string) => {
  for (let i = 0; i < 500 && !cond(); i++) await sleep(10);
  if (!cond()) throw new Error(`timed out waiting for ${what}`);
};

describe('mosquitto ACL from wayside-fleet acl', () => {
  it('prints one block per identity', () => {
    const acl = mosquittoAcl({ gateways: ['gw-a'], platformUser: 'platform' });
    expect(acl).toContain('user gw-a\ntopic write wayside/v1/gw-a/state\ntopic write wayside/v1/gw-a/up/+\ntopic write wayside/v1/gw-a/res/#\ntopic read wayside/v1/gw-a/cmd/#\n');
    expect(() => mosquittoAcl({ gateways: ['Bad/Id'], platformUser: 'platform' })).toThrow(/gateway id/);
    expect(() => mosquittoAcl({ gateways: ['platform'], platformUser: 'platform' })).toThrow(/also the platform/);
  });

  for (const pv of [5, 4] as const) {
    it(`a gateway cannot publish commands or another gateway's topics (MQTT ${pv === 5 ? '5' : '3.1.1'})`, async () => {
      const platform = await listener(PLATFORM_USER, PLATFORM_PASS, ['wayside/v1/#']);
      const a = await client('gw-a', 'gw-a-pw', pv);
      const denied = ['wayside/v1/gw-a/cmd/agent.restart', 'wayside/v1/gw-b/cmd/agent.restart', 'wayside/v1/gw-b/state', 'wayside/v1/gw-b/up/event', 'wayside/v1/gw-b/res/1', 'wayside/v1/claim/res/x'];
      for (const t of denied) {
        const r = await a.publishAsync(t, `forged-${pv}`, { qos: 1 }).then(() => 'acked', (e: Error & { code?: number }) => `refused ${e.code}`);
        // MQTT 5: PUBACK reason 0x87 (not authorized); 3.1.1 has no reason codes: acked and dropped.
        expect(r).toBe(pv === 5 ? 'refused 135' : 'acked');
      }
      expect(a.connected).toBe(true);
      await a.publishAsync('wayside/v1/gw-a/up/event', `marker-${pv}`, { qos: 1 });
      await a.publishAsync('wayside/v1/gw-a/res/42', `answer-${pv}`, { qos: 1 });
      await waitFor(() => platform.got.includes(`wayside/v1/gw-a/res/42 answer-${pv}`), 'the allowed publishes');
      expect(platform.got).toContain(`wayside/v1/gw-a/up/event marker-${pv}`);
      expect(platform.got.filter((m) => m.includes('forged'))).toEqual([]);
    });
  }

  it("a gateway cannot read another gateway's topics; the platform can publish commands", async () => {
    const a = await listener('gw-a', 'gw-a-pw', ['wayside/v1/gw-b/cmd/+', 'wayside/v1/gw-b/up/+', 'wayside/v1/+/cmd/+', 'wayside/v1/#', 'wayside/v1/gw-a/cmd/+']);
    const codes = a.granted.map((g) => g.qos);
    // Either refused in SUBACK (0x80 / 0x87) or granted and filtered per message (mosquitto 2.0 acl_file).
    for (const code of codes) expect([0, 1, 0x80, 0x87]).toContain(code);
    const b = await client('gw-b', 'gw-b-pw');
    await b.publishAsync('wayside/v1/gw-b/up/event', 'b-data', { qos: 1 });
    await b.publishAsync('wayside/v1/gw-b/state', 'b-state', { qos: 1 });
    const platform = await client(PLATFORM_USER, PLATFORM_PASS);
    await platform.publishAsync('wayside/v1/gw-b/cmd/agent.restart', 'for-b', { qos: 1 });
    await platform.publishAsync('wayside/v1/gw-a/cmd/versions.get', 'for-a', { qos: 1 });
    await waitFor(() => a.got.some((m) => m.includes('for-a')), "gw-a's own command");
    await sleep(200);
    expect(a.got).toEqual(Array(a.got.length).fill('wayside/v1/gw-a/cmd/versions.get for-a'));
    // gw-b gets its command.
    const b2 = await listener('gw-b', 'gw-b-pw', ['wayside/v1/gw-b/cmd/+']);
    await platform.publishAsync('wayside/v1/gw-b/cmd/versions.get', 'for-b-2', { qos: 1 });
    await waitFor(() => b2.got.includes('wayside/v1/gw-b/cmd/versions.get for-b-2'), "gw-b's command");
  });

  it('the claim user can ask and read answers, nothing else', async () => {
    const platform = await listener(PLATFORM_USER, PLATFORM_PASS, ['wayside/v1/#']);
    const claim = await listener(CLAIM_USER, CLAIM_PASS, ['wayside/v1/claim/res/+', 'wayside/v1/claim/req', 'wayside/v1/+/cmd/+']);
    const r = await claim.c.publishAsync('wayside/v1/gw-a/cmd/agent.restart', 'claim-forged', { qos: 1 }).then(() => 'acked', (e: Error & { code?: number }) => `refused ${e.code}`);
    expect(r).toBe('refused 135');
    await claim.c.publishAsync('wayside/v1/claim/req', 'claim-ask', { qos: 1 });
    await waitFor(() => platform.got.includes('wayside/v1/claim/req claim-ask'), 'the claim request at the platform');
    await platform.c.publishAsync('wayside/v1/claim/res/abc', 'claim-answer', { qos: 1 });
    await platform.c.publishAsync('wayside/v1/gw-a/cmd/x', 'not-for-claim', { qos: 1 });
    await waitFor(() => claim.got.includes('wayside/v1/claim/res/abc claim-answer'), 'the claim answer');
    await sleep(200);
    expect(claim.got).toEqual(['wayside/v1/claim/res/abc claim-answer']);
    expect(platform.got.filter((m) => m.includes('claim-forged'))).toEqual([]);
  });
});
