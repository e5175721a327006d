// ABP uplinks end to end over real UDP on loopback: frames built and encrypted by the test's own
// LoRaWAN crypto (test/support/lora/crypto.ts, node:crypto only), sent by a simulated packet
// forwarder, decoded by the driver into readings. Dedup across forwarders, replays, counter
// rollover, bad MICs, unknown DevAddrs, malformed frames and datagrams, acks, stat, and the
// shared socket's life.
import { createSocket } from 'node:dgram';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { buildDataUp } from '../../test/support/lora/crypto.ts';
import { encodeSensor } from '../../test/support/lora/codec.ts';
import { startForwarder, type Forwarder } from '../../test/support/lora/forwarder.ts';
import { APP, createRig, NWK, type Rig, type Sensor } from '../../test/support/lora/rig.ts';
import { sleep, until } from '../../test/helpers/wait.ts';

const ADDR = 0x26011bda;
const ABP = { mode: 'abp', devEui: '70b3d57ed0000001', devAddr: '26011bda', nwkSKey: NWK.toString('hex'), appSKey: APP.toString('hex') };
const up = (fcnt: number, payload = encodeSensor({ temperature: 21.5, humidity: 40, battery: 87 }), extra: Partial<Parameters<typeof buildDataUp>[0]> = {}) =>
  buildDataUp({ devAddr: ADDR, fcnt, fPort: 2, payload, nwkSKey: NWK, appSKey: APP, ...extra });

let rig: Rig | undefined;
const fwds: Forwarder[] = [];
afterEach(async () => {
  for (const f of fwds.splice(0)) await f.close();
  await rig?.close();
  rig = undefined;
});

async function setup(fields: Record<string, unknown> = {}): Promise<{ r: Rig; s: Sensor; fwd: Forwarder; port: number }> {
  rig = createRig();
  const s = await rig.sensor('manhole-7', { ...ABP, points: { temperature_1: { unit: '°C' }, 'env.humidity': { unit: '%' } }, ...fields });
  await s.start();
  const port = rig.port(s);
  const fwd = await startForwarder(port, 'aa555a0000000001');
  fwds.push(fwd);
  return { r: rig, s, fwd, port };
}

const counters = (s: Sensor) => s.health().lora.listener!.counters;

describe('lora ABP uplinks over Semtech UDP', () => {
  it('turns an uplink into named readings with units and radio metadata, and acks PUSH_DATA', async () => {
    const { r, s, fwd } = await setup({ dedupWindow: '50ms' });
    await fwd.uplink(up(1), { rssi: -71, lsnr: 7.25, datr: 'SF9BW125' });
    await until(() => r.readings.some((x) => x.point === 'temperature_1'), 5000, 'temperature reading');
    const t = r.last('manhole-7', 'temperature_1')!;
    expect(t).toMatchObject({ device: 'manhole-7', value: 21.5, unit: '°C', quality: 'good' });
    expect(Math.abs(t.ts - Date.now())).toBeLessThan(5000);
    expect(r.last('manhole-7', 'env.humidity')).toMatchObject({ value: 40, unit: '%' });
    expect(r.last('manhole-7', 'battery')!.value).toBe(87);
    expect(r.last('manhole-7', 'rssi_dbm')).toMatchObject({ value: -71, unit: 'dBm' });
    expect(r.last('manhole-7', 'snr_db')).toMatchObject({ value: 7.25, unit: 'dB' });
    expect(r.last('manhole-7', 'sf')!.value).toBe(9);
    const h = s.health();
    expect(h.state).toBe('online');
    expect(h.lora).toMatchObject({ devAddr: '26011bda', fcntUp: 1, rssi: -71, snr: 7.25, sf: 9, gateway: 'aa555a0000000001', battery: 87, uplinks: 1 });
    expect(fwd.acks.filter((a) => a.id === 1)).toHaveLength(1);
  });

  it('counts one frame heard by two forwarders once, keeping the best RSSI and both gateways', async () => {
    const { r, s, fwd, port } = await setup({ dedupWindow: '300ms' });
    const fwd2 = await startForwarder(port, 'aa555a0000000002');
    fwds.push(fwd2);
    const frame = up(5);
    await fwd.uplink(frame, { rssi: -110, lsnr: -3 });
    await fwd2.uplink(frame, { rssi: -80, lsnr: 4 });
    await until(() => s.health().lora.uplinks === 1, 5000, 'uplink flushed');
    await sleep(400);
    expect(r.readings.filter((x) => x.point === 'temperature_1')).toHaveLength(1);
    expect(s.health().lora).toMatchObject({ rssi: -80, snr: 4, gateway: 'aa555a0000000002', uplinks: 1, copies: 1 });
    expect(s.health().lora.gateways!.sort()).toEqual(['aa555a0000000001', 'aa555a0000000002']);
    expect(r.last('manhole-7', 'rssi_dbm')!.value).toBe(-80);
  });

  it('refuses a replayed frame and an older counter, with a rate-limited device.error', async () => {
    const { r, s, fwd } = await setup({ dedupWindow: '0ms' });
    await fwd.uplink(up(10));
    await until(() => s.health().lora.uplinks === 1, 5000, 'first uplink');
    await sleep(1100); // past the late-duplicate memory: now it is a replay
    await fwd.uplink(up(10));
    await fwd.uplink(up(9));
    await until(() => (s.health().lora.refused.replay ?? 0) === 2, 5000, 'two replays');
    expect(s.health().lora.uplinks).toBe(1);
    expect(r.readings.filter((x) => x.point === 'temperature_1')).toHaveLength(1);
    const errs = r.events.filter((e) => e.type === 'device.error' && e.device === 'manhole-7');
    expect(errs).toHaveLength(1); // the second is held back by the limiter
    expect(errs[0].data).toMatchObject({ driver: 'lora', kind: 'replay' });
    expect(counters(s).replay).toBe(2);
    await fwd.uplink(up(11));
    await until(() => s.health().lora.uplinks === 2, 5000, 'next counter accepted');
  });

  it('follows a 16-bit counter across its rollover and a 32-bit one past 65535', async () => {
    const { s, fwd } = await setup({ dedupWindow: '0ms', fcntWidth: 16 });
    await fwd.uplink(up(65534));
    await fwd.uplink(up(65535));
    await fwd.uplink(up(0)); // the device's 16-bit counter wrapped
    await fwd.uplink(up(1));
    await until(() => s.health().lora.uplinks === 4, 5000, '4 uplinks across the rollover');
    expect(s.health().lora.fcntUp).toBe(65537);
    expect(s.health().lora.refused).toEqual({});

    await s.stop();
    const s32 = await rig!.sensor('deep-32', { ...ABP, devEui: '70b3d57ed0000032', devAddr: '26011bdb', dedupWindow: '0ms', fcntWidth: 32 });
    await s32.start();
    const f32 = await startForwarder(rig!.port(s32), 'aa555a0000000003');
    fwds.push(f32);
    const up32 = (fcnt: number) => buildDataUp({ devAddr: 0x26011bdb, fcnt, fPort: 2, payload: encodeSensor({ temperature: -4, humidity: 90, battery: 50 }), nwkSKey: NWK, appSKey: APP });
    await f32.uplink(up32(65535));
    await f32.uplink(up32(65536)); // MIC and keystream over the full 32-bit counter
    await until(() => s32.health().lora.uplinks === 2, 5000, '32-bit uplinks');
    expect(s32.health().lora.fcntUp).toBe(65536);
    expect(rig!.last('deep-32', 'temperature_1')!.value).toBe(-4);
    // A 16-bit MIC of the same counter is wrong for a 32-bit device.
    await f32.uplink(buildDataUp({ devAddr: 0x26011bdb, fcnt: 65537 & 0xffff, fPort: 2, payload: Buffer.alloc(4), nwkSKey: NWK, appSKey: APP }));
    await until(() => s32.health().lora.refused.bad_mic === 1, 5000, 'bad MIC');
  });

  it('refuses a counter that jumped more than MAX_FCNT_GAP', async () => {
    const { s, fwd } = await setup({ dedupWindow: '0ms' });
    await fwd.uplink(up(100));
    await fwd.uplink(up(100 + 16385));
    await until(() => s.health().lora.refused.fcnt_gap === 1, 5000, 'fcnt gap');
    await fwd.uplink(up(100 + 16384));
    await until(() => s.health().lora.uplinks === 2, 5000, 'within the gap');
  });

  it('counts bad MICs, unknown DevAddrs, truncated frames, CRC errors and junk per reason, and never crashes', async () => {
    const { r, s, fwd, port } = await setup({ dedupWindow: '0ms' });
    await fwd.uplink(buildDataUp({ devAddr: ADDR, fcnt: 3, fPort: 2, payload: Buffer.alloc(4), nwkSKey: APP, appSKey: APP })); // wrong NwkSKey
    await fwd.uplink(buildDataUp({ devAddr: 0x26099999, fcnt: 3, fPort: 2, payload: Buffer.alloc(4), nwkSKey: NWK, appSKey: APP }));
    await fwd.uplink(up(4).subarray(0, 9)); // truncated PHYPayload
    await fwd.uplink(Buffer.from([0x40, 0xda, 0x1b, 0x01, 0x26, 0x0f, 0, 0, 1, 2, 3, 4, 5])); // FOptsLen 15 beyond the frame
    await fwd.uplink(up(5), { stat: -1 });
    await fwd.push({ rxpk: [{ tmst: 1, freq: 868.1, datr: 'SF7BW125', data: '!!!not base64' }] });
    const head = (id: number) => Buffer.concat([Buffer.from([2, 0, 9, id]), Buffer.from('aa555a0000000001', 'hex')]);
    await fwd.raw(Buffer.concat([head(0), Buffer.from('{"rxpk": [')])); // malformed JSON
    await fwd.raw(Buffer.from([2, 0])); // short
    await fwd.raw(Buffer.concat([Buffer.from([9, 0, 1, 0]), Buffer.alloc(8)])); // wrong version
    await fwd.raw(head(0x7f)); // unknown identifier
    await fwd.raw(Buffer.alloc(65000, 0x02)); // a 64 KiB datagram
    await until(() => (counters(s).too_large ?? 0) === 1, 5000, 'the big datagram');
    expect(counters(s)).toMatchObject({
      bad_mic: 1, unknown_devaddr: 1, malformed_frame: 2, crc_bad: 1, bad_base64: 1, bad_json: 1, too_short: 1, bad_version: 1, unknown_type: 1, too_large: 1,
    });
    expect(s.health().lora.refused).toEqual({ bad_mic: 1 });
    const kinds = r.events.filter((e) => e.type === 'device.error').map((e) => `${e.device ?? '-'}:${e.data.kind}`);
    expect(kinds).toEqual(expect.arrayContaining(['manhole-7:bad_mic', '-:unknown_devaddr', '-:malformed_frame', '-:malformed_datagram']));
    // Still serving.
    await fwd.uplink(up(6));
    await until(() => s.health().lora.uplinks === 1, 5000, 'a good uplink after the junk');
    expect(r.last('manhole-7', 'temperature_1')!.value).toBe(21.5);
    void port;
  });

  it('answers PULL_DATA with PULL_ACK, keeps each forwarder\'s stat in health', async () => {
    const { s, fwd } = await setup();
    await fwd.pull();
    const stat = { time: '2024-05-01 10:00:00 GMT', lati: 46.24, long: 3.25, alti: 145, rxnb: 2, rxok: 2, rxfw: 2, ackr: 100, dwnb: 0, txnb: 0 };
    await fwd.push({ stat });
    const f = s.health().lora.listener!.forwarders.find((x) => x.gateway === 'aa555a0000000001')!;
    expect(f).toMatchObject({ pulls: 1, pushes: 1, stat, protocol: 2 });
    expect(f.downlink).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(fwd.acks.map((a) => a.id).sort()).toEqual([1, 4]);
  });

  it('shares one socket between sensors of one listen; the last to stop closes it', async () => {
    rig = createRig();
    const a = await rig.sensor('a', { ...ABP, dedupWindow: '0ms' });
    const b = await rig.sensor('b', { ...ABP, devEui: '70b3d57ed0000002', devAddr: '26011bdc', dedupWindow: '0ms' });
    await a.start();
    await b.start();
    const port = rig.port(a);
    expect(rig.port(b)).toBe(port);
    const fwd = await startForwarder(port, 'aa555a0000000001');
    fwds.push(fwd);
    await fwd.uplink(up(1));
    await fwd.uplink(buildDataUp({ devAddr: 0x26011bdc, fcnt: 1, fPort: 2, payload: encodeSensor({ temperature: 5, humidity: 10, battery: 3 }), nwkSKey: NWK, appSKey: APP }));
    await until(() => rig!.last('b', 'temperature_1')?.value === 5 && rig!.last('a', 'temperature_1')?.value === 21.5, 5000, 'both sensors');
    await a.stop();
    await fwd.pull(); // still open for b
    await b.stop();
    expect(b.health().state).toBe('stopped');
    // The port is free again: binding it works.
    const probe = createSocket('udp4');
    await new Promise<void>((res, rej) => {
      probe.once('error', rej);
      probe.bind(port, '127.0.0.1', () => res());
    });
    probe.close();
  });

  it('keeps the uplink counter across a restart (a replay after it is refused) without a write per uplink', async () => {
    rig = createRig({ durable: true });
    const dir = rig.dir;
    const s = await rig.sensor('manhole-7', { ...ABP, dedupWindow: '0ms' });
    await s.start();
    const fwd = await startForwarder(rig.port(s), 'aa555a0000000001');
    fwds.push(fwd);
    for (let i = 1; i <= 60; i++) await fwd.uplink(up(i));
    await until(() => s.health().lora.uplinks === 60, 5000, '60 uplinks');
    expect(s.health().lora.state.writes).toBeLessThan(10); // debounced, not one fsync per uplink
    await s.stop();
    const again = createRig({ durable: true, dir });
    const s2 = await again.sensor('manhole-7', { ...ABP, dedupWindow: '0ms' });
    try {
      await s2.start();
      expect(s2.health().lora.fcntUp).toBe(60);
      const f2 = await startForwarder(again.port(s2), 'aa555a0000000001');
      fwds.push(f2);
      await f2.uplink(up(60));
      await f2.uplink(up(61));
      await until(() => s2.health().lora.uplinks === 1 && s2.health().lora.refused.replay === 1, 5000, 'replay refused, next accepted');
      // Other keys for the same DevEUI start the counters over.
      await s2.stop();
      const s3 = await again.sensor('manhole-7', { ...ABP, devAddr: '26011bdf', dedupWindow: '0ms' });
      await s3.start();
      expect(s3.health().lora.fcntUp).toBeUndefined();
    } finally {
      await again.close();
    }
  });

  it('decodes with the agent\'s own codecs: Cayenne LPP, a JavaScript codec file, and none (hex payload)', async () => {
    rig = createRig({ realCodecs: true });
    const file = join(rig.dir, 'vendor.js');
    writeFileSync(file, 'function decodeUplink(input) { return { data: { level_cm: (input.bytes[0] << 8 | input.bytes[1]) / 10, fport: input.fPort } }; }\n');
    const lpp = await rig.sensor('lpp', { ...ABP, dedupWindow: '0ms', codec: 'cayenne', points: { temperature_3: { unit: '°C' } } });
    const js = await rig.sensor('js', { ...ABP, devEui: '70b3d57ed00000a2', devAddr: '260000a2', dedupWindow: '0ms', codec: { file, timeout: '1s' } });
    const raw = await rig.sensor('raw', { ...ABP, devEui: '70b3d57ed00000a3', devAddr: '260000a3', dedupWindow: '0ms', codec: 'none' });
    for (const s of [lpp, js, raw]) await s.start();
    const fwd = await startForwarder(rig.port(lpp), 'aa555a0000000001');
    fwds.push(fwd);
    const k = { nwkSKey: NWK, appSKey: APP, fcnt: 1 };
    await fwd.uplink(buildDataUp({ ...k, devAddr: ADDR, fPort: 1, payload: Buffer.from('03670110056700ff', 'hex') }));
    await fwd.uplink(buildDataUp({ ...k, devAddr: 0x260000a2, fPort: 7, payload: Buffer.from('04d2', 'hex') }));
    await fwd.uplink(buildDataUp({ ...k, devAddr: 0x260000a3, fPort: 3, payload: Buffer.from('c0ffee', 'hex') }));
    await until(() => rig!.last('lpp', 'temperature_5') !== undefined && rig!.last('js', 'level_cm') !== undefined && rig!.last('raw', 'payload') !== undefined, 10_000, 'three decodes');
    expect(rig.last('lpp', 'temperature_3')).toMatchObject({ value: 27.2, unit: '°C' });
    expect(rig.last('lpp', 'temperature_5')!.value).toBe(25.5);
    expect(rig.values('js')).toMatchObject({ level_cm: 123.4, fport: 7 });
    expect(rig.last('raw', 'payload')!.value).toBe('c0ffee');
  });

  it('flushes uplinks still inside their dedup window when stopped (no reading lost)', async () => {
    const { r, s, fwd } = await setup({ dedupWindow: '2s' });
    await fwd.uplink(up(1));
    await until(() => s.health().lora.listener!.uplinks === 1, 5000, 'uplink received');
    expect(r.readings.filter((x) => x.point === 'temperature_1')).toHaveLength(0);
    await s.stop();
    expect(r.readings.filter((x) => x.point === 'temperature_1')).toHaveLength(1);
    expect(rig!.codecs[0].closed).toBe(true);
  });
});
