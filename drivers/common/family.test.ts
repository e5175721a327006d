// defineFamily: the schema, checks and points are there at once; the implementation (and the
// serial bindings) is imported only when the first device of the family is created. Checked in
// a fresh Node process that records every module it loads.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

const script = `
import { registerHooks } from 'node:module';
const seen = [];
registerHooks({ load(url, ctx, next) { seen.push(url); return next(url, ctx); } });
const heavy = () => seen.filter((u) => /node_modules\\/serialport|\\/modbus\\/device\\.ts|\\/dlt645\\/driver\\.ts|\\/common\\/bus\\.ts|\\/serial\\/index\\.ts/.test(u)).map((u) => u.replace(/^.*\\/(node_modules\\/[^/]+|drivers\\/[^/]+\\/[^/]+)$/, '$1')).sort();
const { builtinDrivers } = await import(${JSON.stringify(new URL('../index.ts', import.meta.url).href)});
const defs = builtinDrivers();
const modbus = defs.find((d) => d.name === 'modbus');
const parsed = modbus.schema.parse({ transport: { type: 'tcp', host: '127.0.0.1' }, points: [{ name: 'x', table: 'input', address: 0 }] });
const points = modbus.points({ id: 'd', driver: 'modbus', ...parsed });
const before = heavy();
const log = { child() { return log; }, info() {}, debug() {}, warn() {}, error() {} };
const ctx = { bus: { emit() {}, on() {}, off() {} }, log, clock: { now: Date.now, mono: () => performance.now(), trusted: () => true, flag: () => undefined }, newId: () => 'x' };
await modbus.create({ id: 'd', driver: 'modbus', ...parsed }, ctx);
console.log(JSON.stringify({ before, points: points.map((p) => p.name), after: heavy() }));
`;

describe('defineFamily', () => {
  it('loads a family implementation only on the first create', () => {
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    const { before, points, after } = JSON.parse(out.trim().split('\n').at(-1)!);
    expect(before).toEqual([]);
    expect(points).toEqual(['x']);
    expect(after).toEqual(expect.arrayContaining(['drivers/common/bus.ts', 'drivers/modbus/device.ts']));
    expect(after.some((u: string) => u.includes('node_modules/serialport'))).toBe(true);
    expect(after.some((u: string) => u.includes('dlt645/driver.ts') || u.includes('serial/index.ts'))).toBe(false);
  });
});
