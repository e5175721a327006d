// The serial driver end to end over socat pty pairs: the test plays the sensor on the `b`
// side, writing real PMS5003/SDS011 frames, NMEA sentences and text lines; the driver reads
// the `a` side. Bad input, silence and an unplug are counted and evented, never a crash.
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { createBus } from '../../runtime/bus.ts';
import { parseConfig } from '../../runtime/config/index.ts';
import { createDriverRegistry } from '../../runtime/drivers.ts';
import { silentLog } from '../../runtime/log.ts';
import type { Clock, Ctx, Reading, WaysideEvent } from '../../runtime/types.ts';
import { startPtyPair, type PtyPair } from '../../test/helpers/socat.ts';
import { builtinDrivers } from '../index.ts';
import { profileSchema } from './format.ts';
import { SerialConfigError, serialSchema, type SerialConfig, type SerialDriver } from './index.ts';

const serialDefinition = () => builtinDrivers().find((d) => d.name === 'serial')!;
import { nmeaSentence, openPeer, PMS_ORDER, pms5003Frame, sds011Frame, type Peer, type Pms5003Values } from '../../test/support/serial/frames.ts';
import { clockIds } from '../../runtime/ids.ts';
import { until } from '../../test/helpers/wait.ts';

const cleanup: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

const realClock: Clock = { now: () => Date.now(), mono: () => performance.now(), trusted: () => true, flag: () => undefined };


async function rig(fields: Record<string, unknown>) {
  const pair: PtyPair = await startPtyPair();
  cleanup.push(() => pair.stop());
  const log = silentLog();
  const bus = createBus(log);
  const ctx: Ctx = { bus, log, clock: realClock, newId: clockIds(realClock) };
  const readings: Reading[] = [];
  const faults: WaysideEvent[] = [];
  bus.on('reading', 'test', (r) => readings.push(r));
  bus.on('event', 'test', (e) => void (e.type === 'device.fault' && faults.push(e)));
  const cfg = { id: 'pm-sensor', driver: 'serial', ...serialSchema.parse({ port: pair.a, reopen: { min: '20ms', max: '100ms' }, ...fields }) } as SerialConfig;
  const driver = (await serialDefinition().create(cfg as never, ctx)) as SerialDriver;
  await driver.start();
  cleanup.push(() => driver.stop());
  let peer: Peer | undefined;
  const connect = async () => {
    const p = await openPeer(pair.b);
    peer = p;
    cleanup.push(() => p.close());
  };
  await connect();
  await until(() => driver.health().framing.opens > 0, 5000, 'agent side open');
  // Keep writing until the driver has seen it: the agent side may still be opening.
  const send = async (data: Buffer | string, seen: () => boolean, ms = 5000) => {
    const end = Date.now() + ms;
    while (!seen()) {
      if (Date.now() > end) throw new Error('the driver never decoded what the simulator sent');
      await peer!.write(data);
      await until(seen, 100).catch(() => {});
    }
  };
  const write = (data: Buffer | string) => peer!.write(data);
  const values = (point: string) => readings.filter((r) => r.point === point).map((r) => r.value);
  return { pair, driver, readings, faults, send, write, values, connect, bus };
}

const PMS: Pms5003Values = { pm1_0_std: 11, pm2_5_std: 17, pm10_std: 21, pm1_0: 10, pm2_5: 15, pm10: 19, n0_3: 1989, n0_5: 567, n1_0: 89, n2_5: 7, n5_0: 2, n10: 1 };
const pms = (i: number) => pms5003Frame({ ...PMS, pm2_5: i });

describe('serial driver over a pty pair', () => {
  it('PMS5003 profile: exact readings with units, device online', async () => {
    const r = await rig({ profile: 'pms5003' });
    await r.send(pms5003Frame(PMS), () => r.readings.length >= 12);
    expect(r.readings.slice(0, 12).map(({ point, value, unit, quality, device }) => ({ device, point, value, unit, quality }))).toEqual(
      PMS_ORDER.map((p) => ({ device: 'pm-sensor', point: p, value: PMS[p], unit: p.startsWith('n') ? '1/0.1L' : 'µg/m³', quality: 'good' })),
    );
    expect(r.driver.health()).toMatchObject({ state: 'online', driver: 'serial', framing: { crcErrors: 0, protocolErrors: 0, opens: 1 } });
  });

  it('SDS011 profile: PM2.5 and PM10 in tenths of µg/m³', async () => {
    const r = await rig({ profile: 'sds011' });
    await r.send(sds011Frame(7.9, 123.4), () => r.readings.length >= 2);
    expect(r.readings.slice(0, 2).map(({ point, value, unit }) => ({ point, value, unit }))).toEqual([
      { point: 'pm2_5', value: 7.9, unit: 'µg/m³' },
      { point: 'pm10', value: 123.4, unit: 'µg/m³' },
    ]);
  });

  it('NMEA GPS: position, fix and GPS time; a bad *hh is a crc failure', async () => {
    const r = await rig({ format: { type: 'nmea' } });
    const gga = nmeaSentence('GNGGA,101530.00,5231.4567,N,01324.2345,E,2,11,0.8,41.2,M,44.1,M,,');
    const rmc = nmeaSentence('GNRMC,101530.00,A,5231.4567,N,01324.2345,E,0.02,,010626,,,D');
    await r.write('$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*48\r\n$GPGSV,1,1,00*79\r\n');
    await r.send(gga + rmc, () => r.values('time').length > 0);
    const last = (p: string) => r.values(p).at(-1);
    expect({ lat: last('lat'), lon: last('lon'), alt: last('alt'), sats: last('sats'), fix: last('fix'), hdop: last('hdop'), time: last('time') }).toEqual({
      lat: Number((52 + 31.4567 / 60).toFixed(8)),
      lon: Number((13 + 24.2345 / 60).toFixed(8)),
      alt: 41.2, sats: 11, fix: 2, hdop: 0.8,
      time: Date.UTC(2026, 5, 1, 10, 15, 30),
    });
    expect(r.readings.find((x) => x.point === 'time')).toMatchObject({ unit: 'ms', quality: 'good' });
    expect(r.driver.health()).toMatchObject({ state: 'online', errorsByKind: { crc: 1 }, framing: { crcErrors: 1 } });
  });

  it('text sensor with a regex (inline format)', async () => {
    const r = await rig({
      baudRate: 115200,
      format: { type: 'text', delimiter: '\r\n', regex: '^NOISE (?<laeq>\\d+\\.\\d) dBA LMAX (?<lmax>\\d+\\.\\d)$', fields: [{ point: 'noise_db', group: 'laeq', unit: 'dB(A)' }, { point: 'noise_max', group: 'lmax', unit: 'dB(A)' }] },
    });
    await r.send('NOISE 54.3 dBA LMAX 71.9\r\n', () => r.readings.length >= 2);
    expect(r.readings.slice(0, 2).map(({ point, value, unit }) => ({ point, value, unit }))).toEqual([
      { point: 'noise_db', value: 54.3, unit: 'dB(A)' },
      { point: 'noise_max', value: 71.9, unit: 'dB(A)' },
    ]);
  });

  it('text sensor with CSV; a bad cell is a protocol error naming point and column', async () => {
    const r = await rig({ format: { type: 'text', csv: true, fields: [{ point: 'temperature', column: 0, unit: '°C', scale: 0.01 }, { point: 'humidity', column: 1, unit: '%' }] } });
    await r.send('2215,48\n', () => r.readings.length >= 2);
    expect(r.readings.slice(0, 2).map(({ point, value }) => [point, value])).toEqual([['temperature', 22.15], ['humidity', 48]]);
    await r.write('2216,err\n');
    await until(() => r.driver.health().errorsByKind.protocol === 1);
    expect(r.driver.health()).toMatchObject({ state: 'degraded', lastError: 'protocol: point "humidity" (column 1 of 2 in "2216,err"): "err" is not a number' });
    expect(r.values('temperature').at(-1)).toBe(22.16);
  });

  it('garbage, truncated frames and wrong checksums: counted, device.fault raised, cleared by good frames', async () => {
    const r = await rig({ profile: 'pms5003' });
    await r.send(pms(1), () => r.values('pm2_5').includes(1));
    const bad3 = pms(3);
    bad3[31] ^= 0xff;
    const bad4 = pms(4);
    bad4[8] ^= 0x10;
    // Events from here on (a busy machine may have failed the first open and raised already).
    const faults = r.faults.splice(0);
    const before = r.driver.health().framing;
    await r.write(Buffer.concat([Buffer.from('\x00\x01 noise on the line \xff'), pms(2).subarray(0, 20), bad3, bad4]));
    await until(() => r.faults.length === 1, 3000, 'device.fault raise');
    expect(r.faults[0]).toMatchObject({ type: 'device.fault', device: 'pm-sensor', state: 'raise', severity: 'warning', data: { driver: 'serial', kind: 'crc' } });
    expect(r.driver.health()).toMatchObject({ state: 'offline', errorsByKind: { protocol: 2, crc: 2 }, framing: { frames: before.frames, crcErrors: 2, protocolErrors: 2 } });
    await r.send(pms(5), () => r.values('pm2_5').includes(5));
    expect(r.faults[1]).toMatchObject({ state: 'clear', data: { recovered: true } });
    expect(new Set(r.values('pm2_5'))).toEqual(new Set([1, 5]));
    expect(faults.every((f) => f.data.kind === 'io')).toBe(true);
    expect(r.driver.health().state).toBe('online');
  });

  it('silence: a timeout failure per silenceTimeout, offline after three; frames bring it back', async () => {
    const r = await rig({ profile: 'sds011', silenceTimeout: '150ms' });
    await r.send(sds011Frame(1, 2), () => r.readings.length >= 2);
    r.faults.splice(0); // a busy machine may have failed the first open
    await until(() => r.driver.health().state === 'degraded', 2000, 'degraded on silence');
    expect(r.faults).toEqual([]);
    await until(() => r.faults.length === 1, 2000, 'device.fault raise on silence');
    expect(r.faults[0]).toMatchObject({ state: 'raise', data: { kind: 'timeout', error: expect.stringContaining('timeout: no valid frame for 150 ms') } });
    expect(r.driver.health().errorsByKind.timeout).toBe(3);
    await r.send(sds011Frame(3, 4), () => r.faults.length === 2);
    expect(r.faults[1]).toMatchObject({ state: 'clear' });
  });

  it('unplug and replug: device.fault raise then clear, readings resume without a restart', async () => {
    const r = await rig({ profile: 'pms5003' });
    await r.send(pms(1), () => r.values('pm2_5').includes(1));
    r.faults.splice(0); // a busy machine may have failed the first open
    const opens = r.driver.health().framing.opens;
    await r.pair.unplug();
    await until(() => r.faults.length === 1, 5000, 'raise after unplug');
    expect(r.faults[0]).toMatchObject({ state: 'raise', data: { kind: 'io' } });
    expect(r.driver.health().state).toBe('offline');
    await r.pair.replug();
    await r.connect();
    await r.send(pms(2), () => r.values('pm2_5').includes(2), 8000);
    expect(r.faults[1]).toMatchObject({ state: 'clear', data: { recovered: true } });
    expect(r.driver.health()).toMatchObject({ state: 'online', framing: { opens: opens + 1 } });
  });

  it('minInterval: at most one reading per point per interval', async () => {
    const r = await rig({ profile: 'sds011', minInterval: '1h' });
    await r.send(sds011Frame(1, 2), () => r.readings.length >= 2);
    for (let i = 0; i < 5; i++) await r.write(sds011Frame(3, 4));
    await until(() => r.driver.health().framing.frames >= 6);
    expect(r.values('pm2_5')).toEqual([1]);
    expect(r.driver.health().framing.throttled).toBe(10);
  });
});

describe('serial device config', () => {
  const yaml = (device: string) => `version: 1\ngateway: { id: gw-1 }\nuplink: { enabled: false }\ndevices:\n${device}`;
  const registry = createDriverRegistry(builtinDrivers());

  it('loads the documented examples', () => {
    const cfg = parseConfig(
      yaml(`  - id: pm-sensor
    driver: serial
    port: /dev/ttyUSB1
    profile: pms5003
    minInterval: 1s
    silenceTimeout: 30s
  - id: weather
    driver: serial
    port: /dev/ttyS2
    baudRate: 19200
    format:
      type: binary
      header: [0x55, 0xaa]
      length: { at: 2, type: u8, add: 4 }
      checksum: { type: crc16-modbus, from: 0, to: -3 }
      fields:
        - { point: temperature, at: 3, type: i16le, scale: 0.1, unit: "°C" }
`),
      'wayside.yaml',
      registry,
    );
    expect(cfg.devices[0]).toMatchObject({ port: '/dev/ttyUSB1', profile: { ref: 'pms5003', format: { type: 'binary' } }, minInterval: 1000, silenceTimeout: 30_000, reopen: { min: 500, max: 30_000 } });
    expect(cfg.devices[1]).toMatchObject({ baudRate: 19200, format: { header: [0x55, 0xaa], footer: [], maxLength: 256, fields: [{ scale: 0.1, offset: 0 }] } });
  });

  it('docs/drivers/serial.md: every yaml example is valid', () => {
    const doc = readFileSync(new URL('../../docs/drivers/serial.md', import.meta.url), 'utf8');
    const blocks = [...doc.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]);
    expect(blocks).toHaveLength(3);
    const profile = blocks.find((b) => b.startsWith('description:'))!;
    expect(profileSchema.parse(parseYaml(profile)).format).toMatchObject({ type: 'binary', length: 7 });
    for (const b of blocks.filter((x) => x.startsWith('devices:'))) {
      const cfg = parseConfig(`version: 1\ngateway: { id: gw-1 }\nuplink: { enabled: false }\n${b}`, 'serial.md', registry);
      expect(cfg.devices.every((d) => d.driver === 'serial')).toBe(true);
    }
  });

  it('names the device, key and problem', async () => {
    const err = (device: string) => {
      try {
        parseConfig(yaml(device), 'wayside.yaml', registry);
      } catch (e) {
        return (e as Error).message;
      }
      return 'no error';
    };
    expect(err('  - { id: a, driver: serial, port: /dev/x, profile: pms9999 }')).toMatch(/devices\[0\]\.profile: .*pms5003/);
    expect(err('  - { id: a, driver: serial, port: /dev/x, format: { type: binary, header: [0x42], length: 4, checksum: none, fields: [{ point: p, at: 3, type: u16be }] } }'))
      .toContain('devices[0].format.fields[0].at: field "p" (u16be at byte 3) ends beyond the frame length 4');
    const create = (fields: Record<string, unknown>) =>
      serialDefinition().create({ id: 'a', driver: 'serial', ...serialSchema.parse({ port: '/dev/x', ...fields }) } as never, { bus: createBus(silentLog()), log: silentLog(), clock: realClock, newId: clockIds(realClock) });
    await expect(create({})).rejects.toThrow(new SerialConfigError('a', 'needs a profile (like pms5003) or a format'));
    await expect(create({ profile: 'sds011', format: { type: 'nmea' } })).rejects.toThrow('serial device "a": give either profile or format, not both');
  });
});
