// OTAA and downlinks over real UDP: the test plays the device with its own crypto
// (test/support/lora/crypto.ts): it builds the JoinRequest, opens the JoinAccept the driver sent
// in PULL_RESP, derives the session keys itself and sends an uplink under them. DevNonce replay
// is refused, also after a restart (state on disk). A write is queued, goes down in RX1 of the
// next uplink, is opened by the test, and its TX_ACK makes it `sent`.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { buildDataUp, buildJoinRequest, openDataDown, openJoinAccept } from '../../test/support/lora/crypto.ts';
import { encodeSensor } from '../../test/support/lora/codec.ts';
import { startForwarder, type Forwarder } from '../../test/support/lora/forwarder.ts';
import { APP, APPKEY, createRig, NWK, type Rig, type Sensor } from '../../test/support/lora/rig.ts';
import { sleep, until } from '../../test/helpers/wait.ts';
import { FCNT_DOWN_MARGIN } from './store.ts';

const DEV_EUI = '70b3d57ed0000abc';
const APP_EUI = '70b3d57ed0000001';
const OTAA = { mode: 'otaa', devEui: DEV_EUI, appEui: APP_EUI, appKey: APPKEY.toString('hex'), netId: '000013', dedupWindow: '0ms', points: { interval: { writable: true, unit: 's' } } };

const rigs: Rig[] = [];
const fwds: Forwarder[] = [];
afterEach(async () => {
  for (const f of fwds.splice(0)) await f.close();
  for (const r of rigs.splice(0)) await r.close();
});

async function boot(opts: { dir?: string } = {}, fields: Record<string, unknown> = OTAA) {
  const rig = createRig({ durable: true, ...opts, txAckTimeoutMs: 1000 });
  rigs.push(rig);
  const s = await rig.sensor('valve-3', fields);
  await s.start();
  const fwd = await startForwarder(rig.port(s), 'aa555a00000000f1');
  fwds.push(fwd);
  await fwd.pull();
  return { rig, s, fwd };
}

async function joinDevice(s: Sensor, fwd: Forwarder, devNonce: number) {
  const n = fwd.pullResps.length;
  await fwd.uplink(buildJoinRequest({ appEui: APP_EUI, devEui: DEV_EUI, devNonce, appKey: APPKEY }), { tmst: 4_294_000_000, freq: 868.3, datr: 'SF10BW125' });
  await until(() => fwd.pullResps.length > n, 5000, 'JoinAccept in PULL_RESP');
  const resp = fwd.pullResps[n];
  return { resp, ja: openJoinAccept(resp.phy, APPKEY, devNonce) };
}

describe('lora OTAA', () => {
  it('answers a JoinRequest; the test opens the JoinAccept, derives the keys itself, and its uplink decodes', async () => {
    const { rig, s, fwd } = await boot();
    const { resp, ja } = await joinDevice(s, fwd, 0x1234);
    expect(ja.micOk).toBe(true);
    expect(ja.netId.equals(Buffer.from('130000', 'hex'))).toBe(true); // NetID 000013, little endian in the frame
    expect(ja.devAddr >>> 25).toBe(0x13); // type-0 DevAddr: NwkID from the NetID
    expect(ja.rxDelay).toBe(1);
    expect(ja.dlSettings).toBe(0);
    // RX1 of the join: 5 s after the request (with the 32-bit wrap), same channel and data rate.
    expect(resp.txpk).toMatchObject({ tmst: (4_294_000_000 + 5_000_000) % 2 ** 32, freq: 868.3, datr: 'SF10BW125', ipol: true, imme: false, size: 17 });
    expect(s.health().lora.devAddr).toBe(ja.devAddr.toString(16).padStart(8, '0'));

    await fwd.uplink(buildDataUp({ devAddr: ja.devAddr, fcnt: 0, fPort: 2, payload: encodeSensor({ temperature: 12.3, humidity: 55, battery: 99 }), nwkSKey: ja.nwkSKey, appSKey: ja.appSKey }));
    await until(() => rig.last('valve-3', 'temperature_1') !== undefined, 5000, 'uplink under the joined session');
    expect(rig.last('valve-3', 'temperature_1')!.value).toBe(12.3);
    expect(s.health().lora).toMatchObject({ joins: 1, fcntUp: 0, uplinks: 1 });
    // Keys the test did not derive are refused.
    await fwd.uplink(buildDataUp({ devAddr: ja.devAddr, fcnt: 1, fPort: 2, payload: Buffer.alloc(4), nwkSKey: NWK, appSKey: APP }));
    await until(() => s.health().lora.refused.bad_mic === 1, 5000, 'bad MIC under wrong keys');
  });

  it('refuses a replayed DevNonce, also after a restart, and a JoinRequest signed with another AppKey', async () => {
    const first = await boot();
    const { ja } = await joinDevice(first.s, first.fwd, 0x0042);
    expect(ja.micOk).toBe(true);
    // The same request again at once is a late copy (another forwarder); later, it is a replay.
    await first.fwd.uplink(buildJoinRequest({ appEui: APP_EUI, devEui: DEV_EUI, devNonce: 0x0042, appKey: APPKEY }));
    await until(() => first.s.health().lora.refused.duplicate_late === 1, 5000, 'late copy');
    await sleep(1100);
    await first.fwd.uplink(buildJoinRequest({ appEui: APP_EUI, devEui: DEV_EUI, devNonce: 0x0042, appKey: APPKEY }));
    await until(() => first.s.health().lora.refused.devnonce_replay === 1, 5000, 'replayed DevNonce refused');
    await first.fwd.uplink(buildJoinRequest({ appEui: APP_EUI, devEui: DEV_EUI, devNonce: 0x0043, appKey: NWK }));
    await until(() => first.s.health().lora.refused.bad_join_mic === 1, 5000, 'wrong AppKey refused');
    expect(first.fwd.pullResps).toHaveLength(1);
    await first.s.stop();
    const onDisk = JSON.parse(readFileSync(join(first.rig.dir, 'devices', 'valve-3', 'lora.json'), 'utf8'));
    expect(onDisk.devNonces).toEqual([0x42]);

    // A new agent over the same state directory.
    const second = await boot({ dir: first.rig.dir });
    expect(second.s.health().lora.devAddr).toBe(ja.devAddr.toString(16).padStart(8, '0')); // the session survived
    await second.fwd.uplink(buildJoinRequest({ appEui: APP_EUI, devEui: DEV_EUI, devNonce: 0x0042, appKey: APPKEY }));
    await until(() => second.s.health().lora.refused.devnonce_replay === 1, 5000, 'replay refused after restart');
    // The restored session still decodes.
    await second.fwd.uplink(buildDataUp({ devAddr: ja.devAddr, fcnt: 7, fPort: 2, payload: encodeSensor({ temperature: 1, humidity: 2, battery: 3 }), nwkSKey: ja.nwkSKey, appSKey: ja.appSKey }));
    await until(() => second.rig.last('valve-3', 'temperature_1')?.value === 1, 5000, 'uplink after restart');
    // A fresh DevNonce joins again.
    const again = await joinDevice(second.s, second.fwd, 0x0044);
    expect(again.ja.micOk).toBe(true);
  });
});

describe('lora downlinks', () => {
  it('queues a write, sends it in RX1 of the next uplink (decrypted by the test), and marks it sent on TX_ACK', async () => {
    const { rig, s, fwd } = await boot();
    const { ja } = await joinDevice(s, fwd, 7);
    const keys = { nwkSKey: ja.nwkSKey, appSKey: ja.appSKey };
    const receipt = await s.write('interval', 600);
    expect(receipt).toMatchObject({ status: 'queued', fPort: 10, bytes: 3, ahead: 0, via: 'semtech' });
    const raw = await s.write('downlink', { bytes: 'cafe', fPort: 3 });
    expect(raw).toMatchObject({ status: 'queued', fPort: 3, ahead: 1 });
    expect(s.health().lora.downlink.queued).toBe(2);
    const n = fwd.pullResps.length;

    await fwd.uplink(buildDataUp({ devAddr: ja.devAddr, fcnt: 0, fPort: 2, payload: encodeSensor({ temperature: 1, humidity: 1, battery: 1 }), ...keys }), { tmst: 10_000_000, freq: 867.5, datr: 'SF8BW125' });
    await until(() => fwd.pullResps.length === n + 1, 5000, 'downlink in PULL_RESP');
    const d = fwd.pullResps[n];
    expect(d.txpk).toMatchObject({ tmst: 11_000_000, freq: 867.5, datr: 'SF8BW125', ipol: true, powe: 14 });
    const open = openDataDown(d.phy, keys);
    expect(open).toMatchObject({ micOk: true, devAddr: ja.devAddr, fcnt16: 0, fPort: 10, fPending: true, mtype: 'unconfirmed' });
    expect([...open.payload]).toEqual([0x01, 0x02, 0x58]);
    await until(() => s.health().lora.downlink.sent === 1, 5000, 'TX_ACK -> sent');
    const ev = rig.events.find((e) => e.type === 'lora.downlink' && e.data.status === 'sent')!;
    expect(ev.data).toMatchObject({ id: receipt.id, point: 'interval', fcntDown: 0, gateway: 'aa555a00000000f1' });

    // The second goes with the next uplink; the forwarder refuses it (TOO_LATE): failed.
    fwd.txAckError = 'TOO_LATE';
    await fwd.uplink(buildDataUp({ devAddr: ja.devAddr, fcnt: 1, fPort: 2, payload: encodeSensor({ temperature: 1, humidity: 1, battery: 1 }), ...keys }));
    await until(() => s.health().lora.downlink.failed === 1, 5000, 'TX_ACK error -> failed');
    const second = openDataDown(fwd.pullResps[n + 1].phy, keys);
    expect(second).toMatchObject({ micOk: true, fcnt16: 1, fPort: 3, fPending: false });
    expect(second.payload.toString('hex')).toBe('cafe');
    expect(s.health().lora.downlink.last).toMatchObject({ id: raw.id, status: 'failed', error: 'TOO_LATE' });
    expect(s.health().lora).toMatchObject({ fcntDown: 2 });
  });

  it('acks a confirmed uplink with an empty downlink; refuses bad writes with the reason', async () => {
    const { s, fwd } = await boot();
    const { ja } = await joinDevice(s, fwd, 8);
    const keys = { nwkSKey: ja.nwkSKey, appSKey: ja.appSKey };
    await fwd.uplink(buildDataUp({ devAddr: ja.devAddr, fcnt: 0, fPort: 2, confirmed: true, payload: Buffer.alloc(4), ...keys }));
    await until(() => fwd.pullResps.length === 2, 5000, 'ACK downlink');
    expect(openDataDown(fwd.pullResps[1].phy, keys)).toMatchObject({ micOk: true, ack: true, fPort: undefined });
    await expect(s.write('interval', -5)).rejects.toThrow(/lora device "valve-3" point "interval": codec refused: interval must be 1-65535/);
    await expect(s.write('temperature_1', 5)).rejects.toThrow(/point "temperature_1": no such point \(writable: downlink, interval\)/);
    await expect(s.write('downlink', { bytes: 'xyz' })).rejects.toThrow(/bytes must be a hex string/);
    await expect(s.write('downlink', 'cafe')).rejects.toThrow(/takes \{ bytes/);
    for (let i = 0; i < 8; i++) await s.write('downlink', { bytes: '00' });
    await expect(s.write('downlink', { bytes: '00' })).rejects.toThrow(/downlink queue full \(8 waiting/);
  });

  it('reports a confirmed downlink acknowledged by the next uplink', async () => {
    const { rig, s, fwd } = await boot();
    const { ja } = await joinDevice(s, fwd, 10);
    const keys = { nwkSKey: ja.nwkSKey, appSKey: ja.appSKey };
    const r = await s.write('downlink', { bytes: '55', fPort: 9, confirmed: true });
    await fwd.uplink(buildDataUp({ devAddr: ja.devAddr, fcnt: 0, fPort: 2, payload: Buffer.alloc(4), ...keys }));
    await until(() => s.health().lora.downlink.sent === 1, 5000, 'sent');
    expect(openDataDown(fwd.pullResps[1].phy, keys)).toMatchObject({ micOk: true, mtype: 'confirmed', fPort: 9 });
    await fwd.uplink(buildDataUp({ devAddr: ja.devAddr, fcnt: 1, fPort: 2, ack: true, payload: Buffer.alloc(4), ...keys }));
    await until(() => s.health().lora.downlink.last?.status === 'acknowledged', 5000, 'acknowledged');
    expect(rig.events.filter((e) => e.type === 'lora.downlink').map((e) => e.data.status)).toEqual(['sent', 'acknowledged']);
    expect(s.health().lora.downlink.last!.id).toBe(r.id);
  });

  it('skips FCntDown ahead by the safety margin after a restart', async () => {
    const first = await boot({}, { ...OTAA });
    const { ja } = await joinDevice(first.s, first.fwd, 9);
    await first.s.write('interval', 60);
    await first.fwd.uplink(buildDataUp({ devAddr: ja.devAddr, fcnt: 0, fPort: 2, payload: Buffer.alloc(4), nwkSKey: ja.nwkSKey, appSKey: ja.appSKey }));
    await until(() => first.s.health().lora.downlink.sent === 1, 5000, 'sent');
    await first.s.stop();
    const second = await boot({ dir: first.rig.dir });
    expect(second.s.health().lora.fcntDown).toBe(1 + FCNT_DOWN_MARGIN);
    await second.s.write('interval', 61);
    await second.fwd.uplink(buildDataUp({ devAddr: ja.devAddr, fcnt: 1, fPort: 2, payload: Buffer.alloc(4), nwkSKey: ja.nwkSKey, appSKey: ja.appSKey }));
    await until(() => second.fwd.pullResps.length === 1, 5000, 'downlink after restart');
    expect(openDataDown(second.fwd.pullResps[0].phy, { nwkSKey: ja.nwkSKey, appSKey: ja.appSKey })).toMatchObject({ micOk: true, fcnt16: 1 + FCNT_DOWN_MARGIN });
    await sleep(10);
  });
});
