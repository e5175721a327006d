// Test support for flows (used by test/flows*.test.ts and bench/flows.bench.ts): a real driver
// whose points the test can set and whose writes it can see, and an agent with flows started
// through the real startAgent with the flows service. Not shipped.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { builtinDrivers } from '../../../drivers/index.ts';
import type { Agent } from '../../../runtime/agent.ts';
import { startWayside } from '../../../main.ts';
import { parseConfig } from '../../../runtime/config/index.ts';
import { createDriverRegistry, defineDriver, type DriverDefinition } from '../../../runtime/drivers.ts';
import { silentLog } from '../../../runtime/log.ts';
import type { FlowsService } from '../../../flows/service.ts';
import type { Ctx, DeviceHealth, Log, Reading, StoredRecord } from '../../../runtime/types.ts';

export interface PanelHandle {
  /** Emits a reading of this device (now, or at `ts`). */
  emit(point: string, value: number | boolean | string, opts?: { ts?: number; unit?: string }): void;
  /** Every accepted write, in order. */
  writes: { point: string; value: unknown }[];
}

/**
 * `panel`: a device with writable points (config `writable: [...]`), e.g. a lamp controller or
 * an LED screen. A write is checked (point writable, value a finite number or a string), recorded,
 * and reported back as a reading, like a real device confirming it.
 */
export function panelDriver(handles: Map<string, PanelHandle>): DriverDefinition {
  return defineDriver({
    name: 'panel',
    description: 'a test device with writable points',
    schema: z.object({ writable: z.array(z.string()).default([]) }).strict(),
    create(device, ctx: Ctx) {
      let readings = 0;
      let started = false;
      const emit = (point: string, value: number | boolean | string, opts: { ts?: number; unit?: string } = {}) => {
        readings++;
        const r: Reading = { device: device.id, point, value, quality: 'good', ts: opts.ts ?? ctx.clock.now() };
        if (opts.unit) r.unit = opts.unit;
        ctx.bus.emit('reading', r);
      };
      const handle: PanelHandle = { emit, writes: [] };
      handles.set(device.id, handle);
      return {
        async start() {
          started = true;
        },
        async stop() {
          started = false;
        },
        health: (): DeviceHealth => ({ device: device.id, driver: 'panel', state: started ? 'online' : 'stopped', errors: 0, readings }),
        async write(point, value) {
          if (!device.writable.includes(point)) throw new Error(`point "${point}" is not writable (writable: ${device.writable.join(', ') || 'none'})`);
          if (!(typeof value === 'number' && Number.isFinite(value)) && typeof value !== 'string') throw new Error(`needs a number or a string, got ${JSON.stringify(value)}`);
          handle.writes.push({ point, value });
          emit(point, value);
        },
      };
    },
  });
}

export interface FlowsAgent {
  agent: Agent;
  /** The flows service handed to the agent (its host() is the running Node-RED). */
  flows: FlowsService;
  panels: Map<string, PanelHandle>;
  dir: string;
  url(p: string): string;
}

/**
 * Starts the real agent (uplink off) with flows; `yaml` is appended to a base config and may
 * set `devices:` and `flows:`. Reuse `dir` to restart on the same state.
 */
export async function startFlowsAgent(yaml: string, opts: { dir?: string; drivers?: DriverDefinition[]; log?: Log } = {}): Promise<FlowsAgent> {
  const dir = opts.dir ?? mkdtempSync(path.join(os.tmpdir(), 'wayside-flows-'));
  const panels = new Map<string, PanelHandle>();
  const builtin = builtinDrivers();
  // Extra drivers the built-in list does not (yet) carry.
  const extra = (opts.drivers ?? []).filter((d) => !builtin.some((b) => b.name === d.name));
  const registry = createDriverRegistry([...builtin, ...extra, panelDriver(panels)]);
  const config = parseConfig(
    `version: 1
gateway: { id: pole-flows, stateDir: ${dir} }
http: { host: 127.0.0.1, port: 0 }
clock: { trust: always }
uplink: { enabled: false }
${yaml}`,
    path.join(dir, 'wayside.yaml'),
    registry,
  );
  const agent = await startWayside({ config, registry, log: opts.log ?? (process.env.WAYSIDE_TEST_LOG ? undefined : silentLog()) });
  const flows = agent.service<FlowsService>('flows')!;
  return {
    agent,
    flows,
    panels,
    dir,
    url: (p) => {
      const { host, port } = agent.http!.address();
      return `http://${host}:${port}${p}`;
    },
  };
}

export { waitFor } from '../../helpers/wait.ts';

/** Outbox records parsed, everything not yet acked. */
export function outboxRecords(agent: Agent): { id: string; kind: string; body: Record<string, unknown> }[] {
  return agent.outbox.peek(100_000).map((r: StoredRecord) => JSON.parse(r.json) as { id: string; kind: string; body: Record<string, unknown> });
}

/** Places flows in <stateDir>/flows/flows.json, where the agent's Node-RED loads them at start. */
export function placeFlows(stateDir: string, flows: unknown[]): void {
  mkdirSync(path.join(stateDir, 'flows'), { recursive: true });
  writeFileSync(path.join(stateDir, 'flows', 'flows.json'), JSON.stringify(flows, null, 2));
}
