// Flows deploys through the deploy service on the real agent with the real embedded Node-RED:
// a deployed flow's readings reach the bus (confirmed after the health window), a flow whose
// function node throws on every injected message is rolled back by itself to the last good
// version, a manual rollback, and the refusals (stale version, uninstalled node type, bad shape).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Reading, WaysideEvent } from '../runtime/types.ts';
import { startDeployAgent, type DeployAgent } from './support/deploy/agent.ts';
import { waitFor } from './helpers/wait.ts';

let d: DeployAgent;
const readings: Reading[] = [];
const events: WaysideEvent[] = [];

let y = 0;
const node = (n: Record<string, unknown>) => ({ z: 'main', x: 200, y: (y += 40), ...n });
/** A flow that puts `point` = 1 on the bus every 200 ms through `wayside out`. */
const ticker = (point: string) => [
  { id: 'main', type: 'tab', label: 'main' },
  node({ id: 'tick', type: 'inject', repeat: '0.2', once: true, onceDelay: 0.05, topic: '', payload: '', payloadType: 'date', wires: [['fn']] }),
  node({ id: 'fn', type: 'function', func: `return { payload: 1, device: "meter", point: "${point}" };`, outputs: 1, wires: [['out']] }),
  node({ id: 'out', type: 'wayside out', wires: [] }),
];
const BROKEN = [
  { id: 'main', type: 'tab', label: 'main' },
  node({ id: 'tick', type: 'inject', repeat: '0.1', once: true, onceDelay: 0.05, topic: '', payload: '', payloadType: 'date', wires: [['thrower']] }),
  node({ id: 'thrower', type: 'function', func: 'throw new Error("broken on purpose");', outputs: 1, wires: [[]] }),
];
const seen = (point: string, after = 0) => readings.some((r) => r.point === point && r.ts > after);

beforeAll(async () => {
  d = await startDeployAgent(
    `http: { host: 127.0.0.1, port: 0 }\nuplink: { enabled: false }\nflows: { enabled: true }\ndevices:\n  - { id: meter, driver: panel }\n`,
    { options: { watchMs: 1500 } },
  );
  d.agent.bus.on('reading', 'test', (r) => readings.push(r));
  d.agent.bus.on('event', 'test', (e) => e.type.startsWith('deploy.') && events.push(e));
});
afterAll(async () => {
  await d?.agent.stop('test end');
});

describe('flows deploy', () => {
  it('deploys a flow: validated, stored, switched, confirmed after the health window; its readings flow', async () => {
    const accepted = await d.cmd('flows.deploy', { version: 1, flows: ticker('deployed_v1') });
    expect(accepted).toMatchObject({ target: 'flows', version: 1, previous: 0, status: 'watching', watchMs: 1500 });
    await waitFor(() => seen('deployed_v1'), 'readings of the deployed flow');
    const confirmed = await waitFor(() => events.find((e) => e.type === 'deploy.confirmed' && e.data.version === 1), 'deploy.confirmed', 10_000);
    expect(confirmed.data).toMatchObject({ kind: 'flows', target: 'flows', version: 1, previous: 0, reason: null });
    expect(confirmed.data.durationMs).toBeGreaterThanOrEqual(1500);
    expect(events.find((e) => e.type === 'deploy.started')?.data).toMatchObject({ kind: 'flows', version: 1, previous: 0 });
    const versions = await d.cmd('versions.get');
    expect(versions.flows).toMatchObject({ active: 1, lastGood: 1, stored: [0, 1] });
    expect((await d.cmd('flows.get')).version).toBe(1);
    expect(d.agent.health().deploy).toMatchObject({ deploying: false, flows: { active: 1, lastGood: 1 } });
  });

  it('rolls a flow that throws on every message back to the last good version by itself', async () => {
    const report = await d.cmd('flows.deploy', { version: 2, flows: BROKEN, wait: true });
    expect(report).toMatchObject({ kind: 'flows', version: 2, previous: 1, outcome: 'rolled_back' });
    expect(report.reason).toMatch(/flows reported \d+ node errors in the health window \(allowed 0\)/);
    expect(events.find((e) => e.type === 'deploy.rolled_back')?.data).toMatchObject({ version: 2, previous: 1 });
    // Version 1 runs again.
    const t = Date.now();
    await waitFor(() => seen('deployed_v1', t), 'version 1 readings after the rollback');
    const versions = await d.cmd('versions.get');
    expect(versions.flows).toMatchObject({ active: 1, lastGood: 1 });
    expect(versions.flows.history.at(-1)).toMatchObject({ version: 2, outcome: 'rolled_back' });
    // A version that was tried is not newer any more.
    await expect(d.cmd('flows.deploy', { version: 2, flows: ticker('x') })).rejects.toMatchObject({ code: 'stale_version' });
  });

  it('rolls back by hand to the version before', async () => {
    const report = await d.cmd('flows.deploy', { version: 3, flows: ticker('deployed_v3'), wait: true });
    expect(report.outcome).toBe('confirmed');
    const back = await d.cmd('flows.rollback', {});
    expect(back).toMatchObject({ version: 1, previous: 3, outcome: 'rolled_back', reason: 'manual rollback' });
    const t = Date.now() + 300; // readings stamped just before the switch may still be in flight
    await waitFor(() => seen('deployed_v1', t), 'version 1 readings after the manual rollback');
    await new Promise((r) => setTimeout(r, 500));
    expect(seen('deployed_v3', t)).toBe(false);
    expect((await d.cmd('versions.get')).flows).toMatchObject({ active: 1, lastGood: 1, stored: [0, 1, 2, 3] });
  });

  it('refuses a flow using a node type not installed, and a flow of the wrong shape, before storing anything', async () => {
    const ghost = [...ticker('g'), node({ id: 'ghost', type: 'node-red-contrib-ghost', wires: [] })];
    await expect(d.cmd('flows.deploy', { version: 10, flows: ghost })).rejects.toMatchObject({ code: 'unknown_node_types', message: expect.stringContaining('node-red-contrib-ghost') });
    await expect(d.cmd('flows.deploy', { version: 10, flows: [{ id: 'a' }] })).rejects.toMatchObject({ code: 'invalid', message: expect.stringContaining('type') });
    await expect(d.cmd('flows.deploy', { version: 'x', flows: [] })).rejects.toMatchObject({ code: 'bad_request' });
    expect((await d.cmd('versions.get')).flows.stored).toEqual([0, 1, 2, 3]);
  });
});
