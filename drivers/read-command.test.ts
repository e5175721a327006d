// The devices service's "read now" and its `read` command, in a real agent: a sim device reads
// at once, a device whose driver cannot be asked answers not_supported, a device that does not
// answer (a Modbus TCP meter whose server is gone) read_failed with its reason, an unknown one
// unknown_device, a malformed request bad_request.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgent, type Agent } from '../runtime/agent.ts';
import { parseConfig } from '../runtime/config/index.ts';
import { createDriverRegistry } from '../runtime/drivers.ts';
import { silentLog } from '../runtime/log.ts';
import type { Reading } from '../runtime/types.ts';
import { testDriver } from '../test/helpers/test-driver.ts';
import { freePort } from '../test/support/modbus/sim.ts';
import { builtinDrivers } from './index.ts';
import { createDevicesService, type DevicesService } from './service.ts';

let dir: string;
let agent: Agent;
let devices: DevicesService;
const readings: Reading[] = [];

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'wayside-read-'));
  const port = await freePort(); // nothing listens there
  const registry = createDriverRegistry([...builtinDrivers(), testDriver(new Map())]);
  const config = parseConfig(`version: 1
gateway: { id: pole-read, stateDir: ${dir} }
http: { enabled: false }
uplink: { enabled: false }
devices:
  - { id: sim-1, driver: sim, interval: 1h, points: [pm25] }
  - { id: panel, driver: test }
  - id: meter-9
    driver: modbus
    transport: { type: tcp, host: 127.0.0.1, port: ${port} }
    interval: 1h
    timeout: 300ms
    retries: 0
    points: [{ name: v, table: holding, address: 0 }]
`, path.join(dir, 'wayside.yaml'), registry, {});
  devices = createDevicesService(registry);
  agent = await startAgent({ config, services: [devices], log: silentLog() });
  agent.bus.on('reading', 'test', (r) => readings.push(r));
});
afterAll(async () => {
  await agent?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const code = (p: Promise<unknown>) => p.then(() => 'ok', (e: { code?: string; message: string }) => `${e.code}: ${e.message}`);

describe('read now', () => {
  it('reads a device at once through readNow() and the read command', async () => {
    const read = devices.commands!().read;
    const n = readings.length;
    expect(await read({ device: 'sim-1' }, { name: 'read' })).toEqual({ device: 'sim-1', read: true });
    expect(readings.slice(n).map((r) => `${r.device}/${r.point}`)).toEqual(['sim-1/pm25']);
    await devices.readNow('sim-1');
    expect(readings.length).toBe(n + 2);
  });

  it('answers with the typed reason when it cannot', async () => {
    const read = devices.commands!().read;
    expect(await code(read({ device: 'nope' }, { name: 'read' }))).toBe('unknown_device: no device "nope"');
    expect(await code(read({}, { name: 'read' }))).toBe('bad_request: read needs {"device": string}');
    expect(await code(read({ device: 'panel' }, { name: 'read' }))).toBe('not_supported: device "panel" (driver test) cannot be read on demand');
    expect(await code(read({ device: 'meter-9' }, { name: 'read' }))).toMatch(/^read_failed: device "meter-9" unit 1 fc03 read holding registers 0: .*(ECONNREFUSED|lost|no reply)/);
  });
});
