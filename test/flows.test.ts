// Node-RED embedded in the real agent: flows placed in <stateDir>/flows before start, a reading
// through `wayside in` -> function -> `wayside out` into the outbox, `wayside write` changing the
// sim lamp, trouble (unknown type, a throwing node, an error loop, a flood) contained and shown
// in /healthz, and flows running again after an agent restart on the same state.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { AgentHealth } from '../runtime/health.ts';
import type { Reading } from '../runtime/types.ts';
import { outboxRecords, placeFlows, startFlowsAgent, waitFor, type FlowsAgent } from './support/flows/testing.ts';

const DEVICES = `defaults: { publish: summaries, window: 60s }
devices:
  - { id: pole-sim, driver: sim, interval: 1h }
  - { id: meter, driver: panel, perPoint: { temp_x2: { publish: raw } } }
`;
let running: FlowsAgent | undefined;
afterEach(async () => {
  await running?.agent.stop('test end');
  running = undefined;
});
const start = async (yaml: string, dir?: string) => (running = await startFlowsAgent(yaml, { dir }));

let y = 0;
const node = (n: Record<string, unknown>) => ({ z: 'main', x: 200, y: (y += 40), ...n });
const MAIN = [
  { id: 'main', type: 'tab', label: 'main' },
  node({ id: 'temp-in', type: 'wayside in', device: 'meter', point: 'temp', wires: [['double']] }),
  node({ id: 'double', type: 'function', func: 'return { payload: msg.payload * 2, device: "meter", point: "temp_x2", unit: msg.reading.unit };', outputs: 1, wires: [['out']] }),
  node({ id: 'out', type: 'wayside out', wires: [] }),
  node({ id: 'cmd-in', type: 'wayside in', device: 'meter', point: 'lamp_cmd', wires: [['lamp']] }),
  node({ id: 'lamp', type: 'wayside write', device: 'pole-sim', point: 'lamp_level', wires: [[]] }),
];
const TROUBLE = [
  { id: 'trouble', type: 'tab', label: 'trouble' },
  node({ z: 'trouble', id: 'ghost', type: 'no-such-node', wires: [[]] }),
  node({ z: 'trouble', id: 'kick', type: 'inject', repeat: '', once: true, onceDelay: 0.1, topic: '', payload: '', payloadType: 'date', wires: [['thrower']] }),
  node({ z: 'trouble', id: 'thrower', type: 'function', func: 'throw new Error("boom from a flow");', outputs: 1, wires: [[]] }),
  // catch -> a function that throws again: an error loop Node-RED must cut short
  node({ z: 'trouble', id: 'catch-all', type: 'catch', scope: null, uncaught: false, wires: [['rethrow']] }),
  node({ z: 'trouble', id: 'rethrow', type: 'function', func: 'throw new Error("again: " + msg.error.message);', outputs: 1, wires: [[]] }),
  // a flood: 200 messages every 100 ms into a `wayside out` allowing 20/s
  node({ z: 'trouble', id: 'tick', type: 'inject', repeat: '0.1', once: true, onceDelay: 0.1, topic: '', payload: '', payloadType: 'date', wires: [['burst']] }),
  node({ z: 'trouble', id: 'burst', type: 'function', func: 'const o = []; for (let i = 0; i < 200; i++) o.push({ payload: i, device: "meter", point: "flood" }); return [o];', outputs: 1, wires: [['flood-out']] }),
  node({ z: 'trouble', id: 'flood-out', type: 'wayside out', rate: 20, wires: [] }),
];

const tempX2 = (f: FlowsAgent) => outboxRecords(f.agent).filter((r) => r.kind === 'reading' && r.body.point === 'temp_x2').map((r) => r.body as unknown as Reading);

describe('flows in the agent', () => {
  it('runs a reading through wayside in -> function -> wayside out into the outbox, writes the sim lamp, and keeps flows across a restart', async () => {
    const f = await start(`${DEVICES}flows: { enabled: true }\n`);
    placeFlows(f.dir, MAIN); // the first start had none; deploy = place + restart
    await f.agent.stop();
    const a = await start(`${DEVICES}`, f.dir); // flows: auto, decided by flows.json
    expect(a.agent.health().flows).toMatchObject({ state: 'running', flows: 1, nodes: 5, unknownTypes: [] });

    a.panels.get('meter')!.emit('temp', 21.5, { unit: 'C' });
    const [r] = await waitFor(() => tempX2(a).length > 0 && tempX2(a), 'temp_x2 in the outbox');
    expect(r).toMatchObject({ device: 'meter', point: 'temp_x2', value: 43, unit: 'C', quality: 'good' });

    const lamp: Reading[] = [];
    a.agent.bus.on('reading', 'test', (x) => x.point === 'lamp_level' && lamp.push(x));
    a.panels.get('meter')!.emit('lamp_cmd', 35);
    await waitFor(() => lamp.some((x) => x.value === 35), 'the sim lamp at 35 %');
    expect(a.agent.health().flows).toMatchObject({ writes: 1, writeErrors: 0 });

    // The sim refuses 150 %: the write fails, the flow goes on.
    a.panels.get('meter')!.emit('lamp_cmd', 150);
    await waitFor(() => a.agent.health().flows?.writeErrors === 1, 'a failed write');
    expect(a.agent.health().flows?.lastError).toMatch(/write 150 to pole-sim\/lamp_level failed: needs a number 0\.\.100, got 150$/);

    // Restart on the same state: the same flows run again.
    await a.agent.stop();
    const b = await start(DEVICES, a.dir);
    expect(JSON.parse(readFileSync(path.join(a.dir, 'flows', 'flows.json'), 'utf8'))).toHaveLength(MAIN.length);
    b.panels.get('meter')!.emit('temp', 10, { unit: 'C' });
    await waitFor(() => tempX2(b).some((x) => x.value === 20), 'temp_x2 after the restart');
  });

  it('contains an unknown node type, a throwing node, an error loop and a flood, and shows them in /healthz', async () => {
    const f = await start(DEVICES);
    expect(f.agent.health().flows).toBeUndefined(); // no flows yet: Node-RED not started
    await f.agent.stop();
    placeFlows(f.dir, [...MAIN, ...TROUBLE]);
    const a = await start(DEVICES, f.dir);
    await waitFor(() => (a.agent.health().flows?.dropped as number) > 100, 'flood drops');
    await waitFor(() => (a.agent.health().flows?.nodeErrors as number) >= 2, 'node errors');

    // The good flow still works while the others misbehave.
    a.panels.get('meter')!.emit('temp', 1, { unit: 'C' });
    await waitFor(() => tempX2(a).some((x) => x.value === 2), 'temp_x2 during the flood');

    const h = (await (await fetch(a.url('/healthz'))).json()) as AgentHealth;
    expect(h.flows).toMatchObject({ state: 'running', unknownTypes: ['no-such-node'], flows: 2 });
    expect(h.status).toBe('degraded');
    expect(h.problems).toContain('flows use unknown node types: no-such-node');
    expect(h.flows!.nodeErrors).toBeGreaterThanOrEqual(2);
    // The error loop's errors do not hide the throwing node's: each failing node is listed.
    const byNode = Object.values((h.flows!.errorsByNode ?? {}) as Record<string, { lastError: string }>).map((e) => e.lastError);
    expect(byNode.some((e) => /boom from a flow/.test(e)), JSON.stringify(h.flows!.errorsByNode)).toBe(true);
    expect(h.flows!.dropped).toBeGreaterThan(100);
    // The catch loop is cut at 20 errors per catch node per second: over 3 s it adds at most
    // ~3 x 20 (+1 window), where it ran at ~1,400/s uncut.
    const before = a.agent.health().flows!.nodeErrors as number;
    await new Promise((r) => setTimeout(r, 3000));
    const after = a.agent.health().flows!;
    expect((after.nodeErrors as number) - before).toBeLessThanOrEqual(4 * 20);
    expect(after.errorLoopDrops).toBeGreaterThan(0);
    // The flood's share is bounded by the node's rate (20/s, burst 20).
    const floods = outboxRecords(a.agent).filter((r) => r.kind === 'reading' && r.body.point === 'flood').length;
    const uptimeS = h.uptimeS + 1;
    expect(h.flows!.msgsOut as number).toBeLessThanOrEqual(20 + 20 * uptimeS + 10);
    expect(floods).toBe(0); // flood is summarized (publish: summaries), not stored raw
    expect(h.devices.find((d) => d.device === 'pole-sim')?.state).toBe('online');
  });
});
