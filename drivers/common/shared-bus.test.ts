// A Modbus RTU device and a DL/T 645 meter on ONE RS-485 port, as on real poles: one socat pty
// pair is the line; behind it a bus-side router hands Modbus frames to modbus-serial's
// ServerSerial and DL/T 645 frames to the meter simulator. Both devices are created from the
// definitions the agent ships (builtinDrivers), share one bus queue, and both get read.
import ModbusRTU from 'modbus-serial';
import { afterEach, describe, expect, it } from 'vitest';
import type { DriverDefinition } from '../../runtime/drivers.ts';
import { socatAvailable, startPtyPair } from '../../test/helpers/socat.ts';
import { createMeterSimulator } from '../../test/support/dlt645/simulator.ts';
import { deviceConfig, recordingCtx, until } from '../../test/support/modbus/ctx.ts';
import { createImage } from '../../test/support/modbus/sim.ts';
import { startRs485Router } from '../../test/support/rs485/router.ts';
import { dlt645Schema } from '../dlt645/schema.ts';
import type { Dlt645Driver } from '../dlt645/driver.ts';
import type { ModbusDriver } from '../modbus/device.ts';
import { builtinDrivers, checkSharedPorts } from '../index.ts';

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f().catch(() => {});
});

const METER = '000000001234';

async function line() {
  const pair = await startPtyPair();
  cleanup.push(() => pair.stop());
  const router = await startRs485Router(pair.b, 19200);
  cleanup.push(() => router.close());
  const img = createImage({ discrete: { 0: [false] }, input: { 0: [35, 52, 215, 655] } });
  const server = new ModbusRTU.ServerSerial(
    {
      getDiscreteInput: (a: number) => img.discrete.get(a) ?? false,
      getInputRegister: (a: number) => img.input.get(a) ?? 0,
      getMultipleInputRegisters: (a: number, n: number) => Array.from({ length: n }, (_, i) => img.input.get(a + i) ?? 0),
    },
    { path: router.modbus, baudRate: 19200, unitID: 5 },
  );
  cleanup.push(() => new Promise<void>((r) => server.close(() => r())));
  const meters = createMeterSimulator({ path: router.dlt645, meters: [{ address: METER, values: { voltage_a: 220.1, frequency: 50.01 } }], preamble: 2 });
  await meters.start();
  cleanup.push(() => meters.stop());
  return { pair, router, meters };
}

const byName = (defs: DriverDefinition[], name: string) => defs.find((d) => d.name === name)!;
const rtu = (port: string) => ({ type: 'rtu' as const, port, baudRate: 19200, parity: 'even' as const });

describe.skipIf(!socatAvailable())('one RS-485 port, two protocols', () => {
  it('polls a Modbus RTU device and a DL/T 645 meter on the same port; neither starves', async () => {
    const { pair, router, meters } = await line();
    const defs = builtinDrivers({ reopen: { minMs: 300, maxMs: 600 } });
    const rec = recordingCtx();
    const pm = (await byName(defs, 'modbus').create(deviceConfig('pm', { transport: rtu(pair.a), unitId: 5, interval: '100ms', timeout: '300ms', profile: 'pm-sensor' }) as never, rec.ctx)) as ModbusDriver;
    const meterCfg = dlt645Schema.parse({ port: pair.a, baudRate: 19200, address: METER, interval: '100ms', timeout: '300ms', gap: '5ms', points: ['voltage_a', 'frequency'] });
    const meter = (await byName(defs, 'dlt645').create({ id: 'meter', driver: 'dlt645', ...meterCfg }, rec.ctx)) as Dlt645Driver;
    for (const d of [pm, meter]) {
      cleanup.push(() => d.stop());
      await d.start();
    }
    await until(() => rec.readings.filter((r) => r.device === 'meter').length >= 10 && rec.readings.filter((r) => r.device === 'pm').length >= 25, 10_000, 'both devices read');
    expect(rec.values('pm')).toMatchObject({ pm2_5: 35, temperature: 21.5 });
    expect(rec.values('meter')).toEqual({ voltage_a: 220.1, frequency: 50.01 });
    expect(pm.health().state).toBe('online');
    expect(meter.health().state).toBe('online');
    // One bus: the Modbus device's port is the meter's, and the line never carried two requests at once.
    expect(pm.health().port).toBe(pair.a);
    expect(meters.overlaps()).toBe(0);
    expect(router.routed.modbus).toBeGreaterThan(5);
    expect(router.routed.dlt645).toBeGreaterThan(5);
  });

  it('keeps reading the meter at its interval while a dead Modbus device times out on the same port', async () => {
    const { pair } = await line();
    const defs = builtinDrivers({ reopen: { minMs: 300, maxMs: 600 } });
    const rec = recordingCtx();
    // Unit 9 is wired in config but absent from the line: every request of it times out.
    const dead = (await byName(defs, 'modbus').create(deviceConfig('dead', { transport: rtu(pair.a), unitId: 9, interval: '50ms', timeout: '250ms', retries: 0, maxBackoff: '1s', points: [{ name: 'x', table: 'input', address: 0 }] }) as never, rec.ctx)) as ModbusDriver;
    const meterCfg = dlt645Schema.parse({ port: pair.a, baudRate: 19200, address: METER, interval: '200ms', timeout: '300ms', gap: '5ms', points: ['voltage_a'] });
    const meter = (await byName(defs, 'dlt645').create({ id: 'meter', driver: 'dlt645', ...meterCfg }, rec.ctx)) as Dlt645Driver;
    for (const d of [dead, meter]) {
      cleanup.push(() => d.stop());
      await d.start();
    }
    await until(() => dead.health().state === 'offline', 5000, 'dead device offline');
    const n0 = rec.readings.filter((r) => r.device === 'meter').length;
    await new Promise((r) => setTimeout(r, 2000));
    // 2 s at a 200 ms interval is 10 polls; fair turns cost the meter at most one timeout each.
    expect(rec.readings.filter((r) => r.device === 'meter').length - n0).toBeGreaterThanOrEqual(5);
    expect(meter.health().state).toBe('online');
  });

  it('check refuses line settings that disagree between a Modbus device and a meter on one port', () => {
    const issues = checkSharedPorts([
      { index: 0, device: { id: 'pm', driver: 'modbus', unitId: 5, transport: { type: 'rtu', port: '/dev/ttyUSB0', baudRate: 9600, dataBits: 8, parity: 'none', stopBits: 1 } } },
      { index: 1, device: { id: 'meter', driver: 'dlt645', port: '/dev/ttyUSB0', baudRate: 2400, parity: 'even', stopBits: 1, address: METER } },
      { index: 2, device: { id: 'gps', driver: 'serial', port: '/dev/ttyUSB0' } },
    ]);
    expect(issues).toEqual([
      { index: 1, path: ['baudRate'], message: expect.stringMatching(/port \/dev\/ttyUSB0: 2400 8E1 disagrees with modbus device "pm" \(9600 8N1\)/) },
      { index: 2, path: ['port'], message: expect.stringMatching(/used by modbus device "pm"; serial device "[^"]+" needs the port to itself/) },
    ]);
  });
});
