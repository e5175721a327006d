// Driver log lines carry `mod` and `device` once: the agent gives each driver a logger already
// bound to them (runtime/agent.ts), and no driver binds them again. Every family is started
// with such a logger (against ports where nothing answers: only the start lines matter).
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createBus } from '../../runtime/bus.ts';
import { clockIds } from '../../runtime/ids.ts';
import type { Driver } from '../../runtime/types.ts';
import { realClock } from '../../test/support/drivers/ctx.ts';
import { until } from '../../test/helpers/wait.ts';
import { builtinDrivers } from '../index.ts';

const devices: Record<string, Record<string, unknown>> = {
  sim: { interval: '1s' },
  serial: { port: '/dev/wayside-no-such-port', profile: 'pms5003' },
  dlt645: { port: '/dev/wayside-no-such-port', address: '000000000001' },
  modbus: { transport: { type: 'tcp', host: '127.0.0.1', port: 1 }, points: [{ name: 'x', table: 'input', address: 0 }] },
};

describe('driver log lines', () => {
  it.each(Object.keys(devices))('%s: mod and device appear once per line', async (family) => {
    const lines: string[] = [];
    const sink = new Writable({ write: (chunk, _enc, cb) => (lines.push(...String(chunk).trim().split('\n')), cb()) });
    const log = pino({ level: 'debug' }, sink);
    const def = builtinDrivers().find((d) => d.name === family)!;
    const dlog = log.child({ mod: family, device: 'dut' }); // as runtime/agent.ts does
    const ctx = { bus: createBus(log), log: dlog, clock: realClock, newId: clockIds(realClock) };
    const driver = (await def.create({ id: 'dut', driver: family, ...def.schema.parse(devices[family]) }, ctx)) as Driver;
    await driver.start();
    await until(() => lines.some((l) => /started/.test(l)), 3000, 'a start line');
    await driver.stop();
    for (const line of lines.filter((l) => l.includes('"device":"dut"'))) {
      expect(line.match(/"mod":/g), line).toHaveLength(1);
      expect(line.match(/"device":/g), line).toHaveLength(1);
    }
  });
});
