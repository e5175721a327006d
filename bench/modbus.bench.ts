// Modbus polling benchmark: 50 simulated TCP devices (modbus-serial ServerTCP on loopback, in a
// child process so this process's CPU is the driver's) x 100 points at a 1 s interval for
// ~20 s. Reports requests per cycle with coalescing against one request per point (computed
// from the same maps, and measured for a few cycles), CPU % of one core, poll jitter p99.
// Run: PATH=$PWD/node_modules/.bin:$PATH node bench/modbus.bench.ts
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createBus } from '../runtime/bus.ts';
import { silentLog } from '../runtime/log.ts';
import type { Ctx } from '../runtime/types.ts';
import { builtinDrivers } from '../drivers/index.ts';
import type { ModbusDriver } from '../drivers/modbus/index.ts';
import { createModbusBuses, request } from '../drivers/modbus/ports.ts';
import { READ_FN } from '../drivers/modbus/plan.ts';
import { pointWidth } from '../drivers/modbus/codec.ts';
import { deviceConfig, realClock } from '../test/support/modbus/ctx.ts';
import type { PointInput } from '../drivers/modbus/point-schema.ts';
import { createImage, startTcpSim } from '../test/support/modbus/sim.ts';
import { clockIds } from '../runtime/ids.ts';

const DEVICES = Number(process.env.MODBUS_BENCH_DEVICES ?? 50);
const SECONDS = Number(process.env.MODBUS_BENCH_SECONDS ?? 20);
const NAIVE_CYCLES = 3;

/** 100 points like a real meter map: runs of input floats, holding words with holes, coils. */
function pointMap(): PointInput[] {
  const pts: PointInput[] = [];
  for (let i = 0; i < 40; i++) pts.push({ name: `f${i}`, table: 'input', address: i * 2, type: 'float32' });
  for (let i = 0; i < 20; i++) pts.push({ name: `u${i}`, table: 'input', address: 200 + i * 3, type: 'uint16', scale: 0.1 });
  for (let i = 0; i < 30; i++) pts.push({ name: `h${i}`, table: 'holding', address: i < 15 ? i : 100 + i * 2, type: i % 3 ? 'int16' : 'uint16' });
  for (let i = 0; i < 10; i++) pts.push({ name: `c${i}`, table: 'coil', address: i * 5 });
  return pts;
}

if (process.argv[2] === '--sims') {
  // Child: the simulated devices. Every register the maps touch is mapped.
  const img = createImage({ input: { 0: Array(300).fill(0x4000) }, holding: { 0: Array(200).fill(123) }, coils: { 0: Array(60).fill(true) } });
  const ports: number[] = [];
  for (let i = 0; i < Number(process.argv[3]); i++) ports.push((await startTcpSim(() => img)).port);
  process.stdout.write(JSON.stringify({ ports }) + '\n');
  process.stdin.resume();
  process.stdin.on('end', () => process.exit(0));
} else {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--sims', String(DEVICES)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const { ports } = await new Promise<{ ports: number[] }>((resolve) => {
    createInterface({ input: child.stdout! }).once('line', (l) => resolve(JSON.parse(l)));
  });
  const log = silentLog();
  const bus = createBus(log);
  let readings = 0;
  bus.on('reading', 'bench', () => readings++);
  const ctx: Ctx = { bus, log, clock: realClock, newId: clockIds(realClock) };
  const def = builtinDrivers().find((d) => d.name === 'modbus')!;
  const points = pointMap();
  const devs = await Promise.all(ports.map(async (port, i) =>
    (await def.create(deviceConfig(`dev-${i}`, { transport: { type: 'tcp', host: '127.0.0.1', port }, interval: '1s', timeout: '500ms', points }) as never, ctx)) as ModbusDriver));

  const requestsPerCycle = devs.reduce((n, d) => n + d.stats().requestsPerCycle, 0);
  const naivePerCycle = devs.reduce((n, d) => n + d.stats().naiveRequestsPerCycle, 0);
  await Promise.all(devs.map((d) => d.start()));
  await new Promise((r) => setTimeout(r, 2000)); // connect and settle
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const polls0 = devs.reduce((n, d) => n + d.stats().polls, 0);
  const read0 = readings;
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  const cpu = process.cpuUsage(cpu0);
  const elapsed = performance.now() - t0;
  const polls = devs.reduce((n, d) => n + d.stats().polls, 0) - polls0;
  const errors = devs.reduce((n, d) => n + d.health().errors, 0);
  const jitter = devs.flatMap((d) => d.stats().jitterMs.slice(3)).sort((a, b) => a - b);
  const p = (q: number) => jitter[Math.min(jitter.length - 1, Math.floor(q * jitter.length))] ?? 0;
  const cpuPct = ((cpu.user + cpu.system) / 1000 / elapsed) * 100;
  await Promise.all(devs.map((d) => d.stop()));
  // Requests per completed poll over the whole run (stop() waits for polls in flight).
  const allPolls = devs.reduce((n, d) => n + d.stats().polls, 0);
  const measuredPerCycle = (devs.reduce((n, d) => n + d.stats().requests, 0) / allPolls) * DEVICES;

  // The same maps one request per point, through the same queue and links, for a few cycles.
  const buses = createModbusBuses();
  const handles = ports.map((port, i) => buses.acquire({ type: 'tcp', host: '127.0.0.1', port }, `naive-${i}`, log));
  const resolved = devs[0].plan().flatMap((b) => b.points);
  const ncpu0 = process.cpuUsage();
  const nt0 = performance.now();
  let naiveSent = 0;
  for (let c = 0; c < NAIVE_CYCLES; c++) {
    await Promise.all(handles.map(async (h, i) => {
      for (const pt of resolved) {
        await request(h.port, `naive-${i}`, { unitId: 1, fn: READ_FN[pt.table], address: pt.address, count: pointWidth(pt) }, 500);
        naiveSent++;
      }
    }));
  }
  const ncpu = process.cpuUsage(ncpu0);
  const naiveCycleMs = (performance.now() - nt0) / NAIVE_CYCLES;
  const naiveCpuMsPerCycle = (ncpu.user + ncpu.system) / 1000 / NAIVE_CYCLES;
  await Promise.all(handles.map((h, i) => h.release(`naive-${i}`)));
  child.stdin!.end();

  const r2 = (x: number) => Math.round(x * 100) / 100;
  const coalescedCpuMsPerCycle = ((cpu.user + cpu.system) / 1000) / (polls / DEVICES);
  console.log(`${DEVICES} devices x ${points.length} points, 1 s interval, ${(elapsed / 1000).toFixed(1)} s measured`);
  console.log(`coalesced: ${requestsPerCycle} requests/cycle (${requestsPerCycle / DEVICES} per device; measured ${r2(measuredPerCycle)}), ${polls} polls, ${readings - read0} readings, ${errors} errors`);
  console.log(`naive: ${naivePerCycle} requests/cycle computed; measured ${naiveSent / NAIVE_CYCLES} per cycle, ${r2(naiveCycleMs)} ms and ${r2(naiveCpuMsPerCycle)} ms CPU per cycle (coalesced: ${r2(coalescedCpuMsPerCycle)} ms CPU per cycle)`);
  console.log(`cpu ${r2(cpuPct)} % of one core; poll jitter p50 ${r2(p(0.5))} ms, p99 ${r2(p(0.99))} ms, max ${r2(jitter.at(-1) ?? 0)} ms`);
  console.log(JSON.stringify({
    bench: 'modbus', devices: DEVICES, points_per_device: points.length,
    requests_per_cycle: requestsPerCycle, naive_requests_per_cycle: naivePerCycle,
    measured_requests_per_cycle: r2(measuredPerCycle), naive_measured_requests_per_cycle: naiveSent / NAIVE_CYCLES,
    naive_cycle_ms: r2(naiveCycleMs), naive_cpu_ms_per_cycle: r2(naiveCpuMsPerCycle), cpu_ms_per_cycle: r2(coalescedCpuMsPerCycle),
    cpu_pct: r2(cpuPct), jitter_p99_ms: r2(p(0.99)), errors,
  }));
  process.exit(0);
}
