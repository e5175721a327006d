// A misbehaving line never crashes the driver: corrupt, truncated, noisy, late and missing
// replies are counted by kind and end in device.fault events; an unplugged adapter raises a
// fault that clears after replug. (The randomized live-bus test is live-fuzz.test.ts.)
import { rmSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { A, closeLive, POINTS, startLive, until, VALUES, type Live } from '../../test/support/dlt645/live.ts';

let live: Live | undefined;
afterEach(async () => {
  await closeLive(live);
  live = undefined;
});

const events = (l: Live, device: string, state: 'raise' | 'clear') => l.events.filter((e) => e.type === 'device.fault' && e.device === device && e.state === state);
const start = (l: Live) => l.sim.meter(A).requests;

describe('dlt645 on a bad line', () => {
  it('counts corrupt checksums, raises a crc fault, clears it when replies are good again', async () => {
    live = await startLive([{ address: A, values: VALUES }]);
    const l = live;
    const m = await l.meter('meter-a', { address: A, points: POINTS });
    await until(() => !!l.last('meter-a', 'frequency'));
    l.sim.setMangle((reply) => {
      const bad = Buffer.from(reply);
      bad[bad.length - 2] ^= 0x5a; // checksum byte
      return bad;
    });
    await until(() => events(l, 'meter-a', 'raise').length === 1);
    const h = m.health();
    expect(events(l, 'meter-a', 'raise')[0].data).toMatchObject({ kind: 'crc' });
    expect(h.errorsByKind.crc).toBeGreaterThanOrEqual(3);
    expect(h.lastError).toMatch(/^crc: dlt645 device "meter-a" \(address 000000001234 .*\) point "\w+" DI [0-9A-F ]+: corrupt reply: checksum 0x[0-9A-F]{2} does not match computed 0x[0-9A-F]{2} \(byte offset \d+\)/);
    expect(h.port).toMatchObject({ badFrames: h.errorsByKind.crc });
    l.sim.setMangle(undefined);
    await until(() => events(l, 'meter-a', 'clear').length === 1, 4000);
    expect(m.health().state).toBe('online');
  });

  it('classifies truncated replies, garbage-only replies and silence', async () => {
    live = await startLive([{ address: A, values: VALUES }]);
    const l = live;
    const m = await l.meter('meter-a', { address: A, points: ['voltage_a'], maxBackoff: '1s' });
    await until(() => !!l.last('meter-a', 'voltage_a'));
    // Each stage waits for its own message: a reply mangled by the previous stage may still be in flight.
    const errorMatches = (re: RegExp) => until(() => re.test(m.health().lastError ?? ''), 4000, String(re));
    l.sim.setMangle((reply) => reply.subarray(0, reply.length - 5));
    await errorMatches(/^protocol: .*truncated reply: \d+ bytes of an incomplete frame after 150 ms/);
    l.sim.setMangle(() => Buffer.from('00112233445566778899', 'hex'));
    await errorMatches(/^protocol: .*no valid reply within 150 ms, 10 garbage bytes received/);
    l.sim.setMangle(() => null);
    await errorMatches(/^timeout: .*no reply within 150 ms/);
    const h = m.health();
    expect(h.errorsByKind.protocol).toBeGreaterThanOrEqual(2);
    expect(h.errorsByKind.timeout).toBeGreaterThanOrEqual(1);
    l.sim.setMangle(undefined);
    await until(() => m.health().state === 'online', 4000);
    expect(m.health().port.path).toBe(l.pair.a);
  });

  it('reads through noise around replies and noise between exchanges', async () => {
    live = await startLive([{ address: A, values: VALUES }]);
    const l = live;
    const m = await l.meter('meter-a', { address: A, points: POINTS });
    l.sim.setMangle((reply) => Buffer.concat([Buffer.from('0068AA16', 'hex'), reply, Buffer.from('77', 'hex')]));
    await until(() => POINTS.every((p) => l.last('meter-a', p)));
    for (let i = 0; i < 5; i++) await l.sim.inject(Buffer.from('deadbeef68', 'hex'));
    const r0 = l.readings.length;
    await until(() => l.readings.length > r0 + 10);
    for (const [p, v] of Object.entries(VALUES)) expect(l.last('meter-a', p)?.value).toBe(v);
    expect(m.health().port.garbageBytes).toBeGreaterThan(20);
    expect(m.health().state).toBe('online');
  });

  it('ignores a late reply to an earlier read instead of taking it for the current one', async () => {
    // Meter latency 50 ms; the first voltage reply comes 140 ms later still, after its timeout
    // (150 ms + 12 ms to send at 19200 baud), while the next cycle's energy read waits for its own.
    live = await startLive([{ address: A, values: VALUES }], { latencyMs: 50 });
    const l = live;
    let delayed = 0;
    l.sim.setMangle((reply, req) => (req.data.readUInt32LE(0) === 0x02010100 && delayed++ === 0 ? { bytes: reply, delayMs: 140 } : reply));
    const m = await l.meter('meter-a', { address: A, points: ['energy_total', 'voltage_a'] });
    await until(() => m.health().port.strayFrames >= 1 && !!l.last('meter-a', 'voltage_a'), 4000);
    const h = m.health();
    expect(h.errorsByKind).toEqual({ timeout: 1 });
    expect(l.readings.filter((r) => r.point === 'energy_total').every((r) => r.value === 1206.42)).toBe(true);
  });

  it('rejects a reply whose value is not BCD, naming the point, DI and byte offset', async () => {
    live = await startLive([{ address: A, values: VALUES, raw: { '02010100': Buffer.from([0x01, 0xa2]) } }]);
    const l = live;
    const m = await l.meter('meter-a', { address: A, points: ['voltage_a', 'frequency'] });
    await until(() => (m.health().errorsByKind.protocol ?? 0) >= 1 && !!l.last('meter-a', 'frequency'));
    expect(m.health().lastError).toBe(
      `protocol: dlt645 device "meter-a" (address ${A} on ${l.pair.a}) point "voltage_a" DI 02 01 01 00: value byte 1 (0xA2) of voltage_a is not BCD (data byte offset 5)`,
    );
    expect(l.last('meter-a', 'voltage_a')).toBeUndefined();
  });
});

describe('dlt645 adapter unplug', () => {
  it('raises device.fault when the port vanishes and clears it after replug', async () => {
    live = await startLive([{ address: A, values: VALUES }]);
    const l = live;
    const m = await l.meter('meter-a', { address: A, points: ['voltage_a'] });
    await until(() => !!l.last('meter-a', 'voltage_a'));
    // Remove the pty links before socat dies (the helper removes them after): a reopen through a
    // stale link could land on a pty number the kernel has already given to another test's pair.
    for (const f of [l.pair.a, l.pair.b]) rmSync(f, { force: true });
    await l.pair.unplug();
    await until(() => events(l, 'meter-a', 'raise').length === 1, 5000, 'fault raise');
    // Usually 'io' (port closed). The serial line may also reopen the stale pty link before the
    // socat helper removes it and land on a pty number another process reused: then the meter's
    // replies are missing or noise, which is what the kind says.
    expect(['io', 'timeout', 'protocol']).toContain(events(l, 'meter-a', 'raise')[0].data.kind);
    expect(m.health()).toMatchObject({ state: 'offline', lastError: expect.stringMatching(/^(io|timeout|protocol): dlt645 device "meter-a" \(address 000000001234/) });
    const before = start(l);
    await l.pair.replug();
    await l.sim.reopen();
    await until(() => events(l, 'meter-a', 'clear').length === 1, 8000, 'fault clear');
    const n = l.readings.length;
    await until(() => l.readings.length > n);
    expect(l.last('meter-a', 'voltage_a')?.value).toBe(220.1);
    expect(start(l)).toBeGreaterThan(before);
    expect(m.health().port.opens).toBeGreaterThanOrEqual(2);
  });
});
