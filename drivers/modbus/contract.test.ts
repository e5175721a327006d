// The driver contract (test/support/drivers/contract.ts) for Modbus: RTU against the RTU
// responder on a socat pty pair (silence, unplug/replug, stop deadline), TCP against
// modbus-serial's ServerTCP (server closed and reopened on its port).
import { rmSync } from 'node:fs';
import { socatAvailable, startPtyPair } from '../../test/helpers/socat.ts';
import { driverContractSuite } from '../../test/support/drivers/contract.ts';
import { deviceConfig, recordingCtx } from '../../test/support/modbus/ctx.ts';
import { createImage, startRtuSim, startTcpSim, type RtuSim, type TcpSim } from '../../test/support/modbus/sim.ts';
import type { Driver } from '../../runtime/types.ts';
import { builtinDrivers } from '../index.ts';
import type { ModbusConfigInput } from './schema.ts';

const points = [
  { name: 'temp', table: 'input' as const, address: 0, type: 'int16' as const, scale: 0.1 },
  { name: 'setpoint', table: 'holding' as const, address: 0, writable: true, min: 0, max: 100 },
];
const image = () => createImage({ input: { 0: [215] }, holding: { 0: [40] } });

async function create(input: ModbusConfigInput, slow?: boolean) {
  const rec = recordingCtx();
  const def = builtinDrivers({ reopen: { minMs: 300, maxMs: 600 } }).find((d) => d.name === 'modbus')!;
  const cfg = deviceConfig('dut', { interval: '100ms', timeout: slow ? '5s' : '150ms', retries: 0, maxBackoff: '1s', points, ...input });
  const driver = (await def.create(cfg as never, rec.ctx)) as Driver;
  return { driver, readings: rec.readings, events: rec.events };
}

driverContractSuite({
  family: 'modbus rtu',
  readOnlyPoint: 'temp',
  writable: { point: 'setpoint', value: 55 },
  can: { silence: true, unplug: true },
  async rig({ slow }) {
    const pair = await startPtyPair();
    const img = image();
    const serve = () => startRtuSim(pair.b, 19200, (u) => (u === 1 ? img : undefined));
    let sim: RtuSim = await serve();
    const r = await create({ transport: { type: 'rtu', port: pair.a, baudRate: 19200 } }, slow);
    return {
      ...r,
      silence: (on) => sim.mutate(on ? () => null : undefined),
      async unplug() {
        // Links first: a reopen through a stale link could land on another test's pty.
        for (const f of [pair.a, pair.b]) rmSync(f, { force: true });
        await sim.close();
        await pair.unplug();
      },
      async replug() {
        await pair.replug();
        sim = await serve();
      },
      async close() {
        await sim.close();
        await pair.stop();
      },
    };
  },
}, { skip: !socatAvailable() });

driverContractSuite({
  family: 'modbus tcp',
  readOnlyPoint: 'temp',
  writable: { point: 'setpoint', value: 55 },
  can: { unplug: true },
  async rig({ slow }) {
    const img = image();
    const serve = (port?: number) => startTcpSim((u) => (u === 1 ? img : undefined), { port });
    let sim: TcpSim = await serve();
    const port = sim.port;
    const r = await create({ transport: { type: 'tcp', host: '127.0.0.1', port } }, slow);
    return {
      ...r,
      async unplug() {
        sim.dropConnections();
        await sim.close();
      },
      async replug() {
        sim = await serve(port);
      },
      close: () => sim.close(),
    };
  },
});
