// `wayside scan` as the field technician runs it: spawned as a real process (bin/wayside) where
// the command itself is the point, else through scanCli in this process (the same code, fewer
// process starts on a busy machine). The Modbus scan finds real modbus-serial ServerSerial units
// on a simulated multi-drop line and prints a devices: snippet that the real config loader and
// `wayside check` accept; the DL/T 645 scan does the same with the meter simulator; a port the
// running agent (a real `wayside run`) holds is refused, naming its pid, unless --force; `scan
// serial` reads this machine's sysfs.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import ModbusRTU from 'modbus-serial';
import { afterEach, describe, expect, it } from 'vitest';
import { productRegistry } from '../main.ts';
import { checkSharedPorts } from '../drivers/index.ts';
import { scanCli } from '../drivers/scan-cli.ts';
import { readConfig } from '../runtime/config/index.ts';
import { portHolders } from '../runtime/ports.ts';
import { runWayside, spawnAgent } from './helpers/agent-process.ts';
import { socatAvailable, startPtyPair } from './helpers/socat.ts';
import { waitFor } from './helpers/wait.ts';
import { createMeterSimulator } from './support/dlt645/simulator.ts';
import { createImage, readImage, type RegisterImage } from './support/modbus/sim.ts';
import { startMultidrop } from './support/rs485/multidrop.ts';

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f().catch(() => {});
});

const wayside = runWayside;

const HEAD = 'version: 1\ngateway: { id: pole-1, stateDir: ./state }\nhttp: { port: 0 }\nuplink: { enabled: false }\n';

function configFile(text: string): string {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'wayside-scan-')), 'wayside.yaml');
  fs.writeFileSync(file, text, { mode: 0o600 });
  return file;
}

/** The snippet the scan printed goes into a config file: the product's own loader takes it. */
function accepted(snippet: string, devices: number): string {
  const file = configFile(HEAD + snippet);
  const config = readConfig(file, productRegistry().registry, { checks: [checkSharedPorts] }).config;
  expect(config.devices).toHaveLength(devices);
  return file;
}

/** scanCli in this process (the same code the verb runs), its output collected. */
async function scan(argv: string[], isTTY = false): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await scanCli(argv, { stdout: { write: (s: string) => out.push(s) }, stderr: { isTTY, columns: 80, write: (s: string) => err.push(s) } });
  return { code, out: out.join(''), err: err.join('') };
}

async function serve(p: string, unitID: number, baudRate: number, img: RegisterImage, writes: { n: number }): Promise<void> {
  const w = () => {
    writes.n++;
    throw Object.assign(new Error('written'), { modbusErrorCode: 1 });
  };
  const server = new ModbusRTU.ServerSerial({
    getCoil: (a: number) => readImage(img.coils, a, 1)[0],
    getHoldingRegister: (a: number) => readImage(img.holding, a, 1)[0],
    getInputRegister: (a: number) => readImage(img.input, a, 1)[0],
    getMultipleHoldingRegisters: (a: number, n: number) => readImage(img.holding, a, n),
    getMultipleInputRegisters: (a: number, n: number) => readImage(img.input, a, n),
    setCoil: w, setRegister: w, setRegisterArray: w,
  }, { path: p, baudRate, unitID });
  await new Promise<void>((resolve, reject) => {
    server.once('initialized', () => resolve());
    server.once('error', reject);
  });
  cleanup.push(() => new Promise<void>((r) => server.close(() => r())));
}

describe.skipIf(!socatAvailable())('wayside scan', () => {
  it('modbus: finds the units at their speed and prints a snippet that wayside check accepts', { timeout: 30_000 }, async () => {
    const bus = await startMultidrop(2);
    cleanup.push(() => bus.close());
    const writes = { n: 0 };
    await serve(bus.drops[0], 3, 19200, createImage({ coils: { 0: [true] }, holding: { 0: [80, 950, 0, 1200, 2301, 0] } }), writes);
    await serve(bus.drops[1], 5, 19200, createImage({ input: { 0: [7, 9] } }), writes);
    const r = await wayside(['scan', 'modbus', '--port', bus.line, '--baud', '9600,19200', '--parity', 'none', '--ids', '1-6', '--timeout', '300']);
    expect(r.code).toBe(0);
    // Not a terminal: plain progress lines, no carriage returns.
    expect(r.err).not.toContain('\r');
    expect(r.err).toMatch(/^scanning .*ttyA: 2 settings x 6 unit ids, at most \d.*\n9600 8N1: probing unit ids 1-6\n9600 8N1: nothing \(6 requests.*\n19200 8N1: probing unit ids 1-6\n19200 8N1: found units 3, 5 \(/m);
    expect(r.out).toMatch(/unit 3 +19200 8N1 +holding 0 = 80 +profile lamp-controller/);
    // Unit 5 has no holding register 0: its exception reply counts, and no profile fits it.
    expect(r.out).toMatch(/unit 5 +19200 8N1 +exception 2 \(ILLEGAL DATA ADDRESS\) +no profile recognised/);
    expect(writes.n).toBe(0);
    const snippet = r.out.slice(r.out.indexOf('devices:\n'));
    expect(snippet).toContain('profile: lamp-controller');
    const check = await wayside(['check', '--config', accepted(snippet, 2)]);
    expect(check.err).toBe('');
    expect(check.out).toContain('ok (gateway pole-1, 2 devices');

    const j = await scan(['modbus', '--port', bus.line, '--baud', '19200', '--parity', 'none', '--ids', '3', '--timeout', '300', '--json']);
    expect(j.code).toBe(0);
    const doc = JSON.parse(j.out) as { units: { unitId: number; profiles: string[] }[]; snippet: string };
    expect(doc.units).toEqual([expect.objectContaining({ unitId: 3, profiles: ['lamp-controller'] })]);
    accepted(doc.snippet, 1);
  });

  it('dlt645: finds a meter and prints a snippet that wayside check accepts', { timeout: 20_000 }, async () => {
    const pair = await startPtyPair();
    cleanup.push(() => pair.stop());
    const sim = createMeterSimulator({ path: pair.b, meters: [{ address: '000000001234', values: { energy_total: 12.5 } }] });
    await sim.start();
    cleanup.push(() => sim.stop());
    const r = await wayside(['scan', 'dlt645', '--port', pair.a, '--baud', '9600', '--timeout', '200', '--json']);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.out) as { meters: { address: string }[]; snippet: string };
    expect(doc.meters.map((m) => m.address)).toEqual(['000000001234']);
    accepted(doc.snippet, 1);
    const text = await scan(['dlt645', '--port', pair.a, '--baud', '9600', '--timeout', '200']);
    expect(text.out).toMatch(/^found 1 meter on .*ttyA:\n {2}000000001234 {2}9600 8E1 {2}\(broadcast\)\n/);
  });

  it('an empty line ends in bounded time with exit 1', { timeout: 20_000 }, async () => {
    const pair = await startPtyPair();
    cleanup.push(() => pair.stop());
    const t0 = Date.now();
    const r = await scan(['modbus', '--port', pair.a, '--baud', '9600,19200', '--ids', '1-5', '--timeout', '50']);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^no unit answered on .*ttyA \(20 requests in/);
    expect(Date.now() - t0).toBeLessThan(15_000);
  });

  it('refuses a port the running agent holds, naming its pid, unless --force', { timeout: 30_000 }, async () => {
    const pair = await startPtyPair();
    cleanup.push(() => pair.stop());
    const file = configFile(`${HEAD}devices:\n  - { id: lamp-1, driver: modbus, transport: { type: rtu, port: ${JSON.stringify(pair.a)} }, unitId: 1, interval: 5s, profile: lamp-controller }\n`);
    const agent = spawnAgent(file);
    cleanup.push(() => agent.term());
    await waitFor(() => portHolders(pair.a).some((h) => h.pid === agent.proc.pid), 'the agent to open the port', 15_000);
    const r = await scan(['modbus', '--port', pair.a, '--ids', '1', '--baud', '9600', '--parity', 'none', '--timeout', '50']);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`in use by the running agent (pid ${agent.proc.pid}: `);
    expect(r.err).toContain('--force');
    const d = await scan(['dlt645', '--port', pair.a, '--timeout', '50']);
    expect(d.code).toBe(2);
    expect(d.err).toContain(`in use by the running agent (pid ${agent.proc.pid}: `);
    const f = await scan(['modbus', '--port', pair.a, '--ids', '1', '--baud', '9600', '--parity', 'none', '--timeout', '50', '--force']);
    // --force skips the check, but the agent's exclusive lock on the port still keeps the scan
    // out (it never gets to send a byte to a device the agent is polling): said, with the pid.
    expect(f.err).toContain(`warning: ${pair.a} is also open by pid ${agent.proc.pid}`);
    expect(f.code).toBe(1);
    expect(f.err).toMatch(new RegExp(`is not open .*; it is held open by .*pid ${agent.proc.pid}.*: stop it first`));
  });

  it('draws a progress bar only on a terminal', { timeout: 20_000 }, async () => {
    const pair = await startPtyPair();
    cleanup.push(() => pair.stop());
    const run = (isTTY: boolean) => scan(['modbus', '--port', pair.a, '--baud', '9600', '--parity', 'none', '--ids', '1-4', '--timeout', '120'], isTTY);
    const tty = await run(true);
    expect(tty.code).toBe(1);
    expect(tty.err).toMatch(/\r\[#*\.*\] \d\/4 9600 8N1 unit \d - found 0/);
    const plain = await run(false);
    expect(plain.err).not.toMatch(/[\r\x1b]/);
    // Same result lines either way (the elapsed time in the summary may differ by a tenth).
    const timeless = (t: string) => t.replace(/ in \d+(\.\d+)? s\)/g, ' in _ s)');
    expect(timeless(plain.out)).toBe(timeless(tty.out));
  });

  it('usage mistakes exit 2 with one line and the usage', async () => {
    const run = scan;
    const both = await run(['modbus', '--port', '/dev/null', '--tcp', 'x']);
    expect(both.code).toBe(2);
    expect(both.err).toMatch(/^wayside scan: scan modbus: give --port <tty> \(RTU\) or --tcp/);
    expect(both.err).toContain('usage:\n  wayside scan modbus --port <tty>');
    const ids = await run(['modbus', '--port', '/dev/null', '--ids', '0-300']);
    expect(ids).toMatchObject({ code: 2, err: expect.stringMatching(/^wayside scan: --ids: unit ids must be 1-247/) });
    expect((await run(['modbus', '--port', '/dev/null', '--baud', 'fast'])).err).toMatch(/^wayside scan: --baud: unexpected "fast"/);
    expect((await run(['dlt645', '--port', '/dev/null', '--parity', 'none,even'])).err).toMatch(/--parity takes one value/);
    expect((await run(['nfc'])).err).toMatch(/^wayside scan: unknown scan "nfc"/);
  });
});

describe('wayside scan serial', () => {
  it('lists the ports this machine has from sysfs, with --json too', async () => {
    // No USB serial adapter exists here; the USB reading is tested on a built sysfs tree in
    // drivers/common/serial-list.test.ts. This run reads the real /sys and /dev.
    const withDevice = fs.readdirSync('/sys/class/tty').filter((n) => fs.existsSync(`/sys/class/tty/${n}/device`) && !(n.startsWith('ttyS') && fs.readFileSync(`/sys/class/tty/${n}/type`, 'utf8').trim() === '0'));
    const r = await scan(['serial']);
    expect(r.code).toBe(0);
    const listed = r.out.trim().split('\n').filter((l) => l.startsWith('/dev/')).map((l) => l.split(/\s+/)[0]);
    expect(listed.sort()).toEqual(withDevice.map((n) => `/dev/${n}`).sort());
    const j = await scan(['serial', '--all', '--json']);
    expect(j.code).toBe(0);
    const doc = JSON.parse(j.out) as { ports: { name: string; bus: string }[] };
    expect(doc.ports.length).toBe(fs.readdirSync('/sys/class/tty').length);
    expect(doc.ports.some((p) => p.bus === 'virtual')).toBe(true);
  });
});
