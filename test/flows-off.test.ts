// A gateway without flows never loads Node-RED: not with flows "auto" and no flows.json, not
// with flows.enabled false even when a flows.json is there. The module cache is process-wide,
// so the positive control at the end shows the observable does flip when flows exist.
import { describe, expect, it } from 'vitest';
import { nodeRedLoaded } from './support/flows/node-red.ts';
import { placeFlows, startFlowsAgent } from './support/flows/testing.ts';

const DEVICES = 'devices:\n  - { id: meter, driver: panel }\n';
const FLOWS = [{ id: 't', type: 'tab' }, { id: 'n', type: 'wayside in', z: 't', x: 10, y: 10, wires: [[]] }];

describe('gateway without flows', () => {
  it('does not load Node-RED when there are no flows and no editor', async () => {
    const f = await startFlowsAgent(DEVICES);
    try {
      expect(nodeRedLoaded()).toBe(false);
      expect(f.agent.health().flows).toBeUndefined();
      expect((await fetch(f.url('/editor/'))).status).toBe(404);
      expect((await fetch(f.url('/api/anything'))).status).toBe(404);
    } finally {
      await f.agent.stop();
    }
  });

  it('does not load Node-RED when flows are disabled, even with a flows.json', async () => {
    const f = await startFlowsAgent(DEVICES);
    await f.agent.stop();
    placeFlows(f.dir, FLOWS);
    const g = await startFlowsAgent(`${DEVICES}flows: { enabled: false }\n`, { dir: f.dir });
    try {
      expect(nodeRedLoaded()).toBe(false);
      expect(g.agent.health().flows).toBeUndefined();
    } finally {
      await g.agent.stop();
    }
    // Positive control: the same state with flows "auto" loads it.
    const h = await startFlowsAgent(DEVICES, { dir: f.dir });
    try {
      expect(nodeRedLoaded()).toBe(true);
      expect(h.agent.health().flows).toMatchObject({ state: 'running', nodes: 1 });
    } finally {
      await h.agent.stop();
    }
  });
});
