// Fixed-seed fuzz of what reaches the listener: valid datagrams, mutated ones (bit flips,
// truncation, junk JSON, random rxpk fields, mangled PHYPayloads) from two forwarders. The
// agent must not crash, every datagram must be accounted for (acked, or counted under a
// reason), and the good frames interleaved with the junk must still decode.
import { describe, expect, it } from 'vitest';
import { createPrng } from '../../runtime/prng.ts';
import { buildDataUp } from '../../test/support/lora/crypto.ts';
import { encodeSensor } from '../../test/support/lora/codec.ts';
import { startForwarder } from '../../test/support/lora/forwarder.ts';
import { APP, createRig, NWK } from '../../test/support/lora/rig.ts';
import { until } from '../../test/helpers/wait.ts';

describe('lora listener fuzz', () => {
  it('survives 1,500 mutated datagrams with every one accounted for', async () => {
    const rig = createRig();
    try {
      const s = await rig.sensor('fuzzed', { mode: 'abp', devEui: '0000000000000f00', devAddr: '01020304', nwkSKey: NWK.toString('hex'), appSKey: APP.toString('hex'), dedupWindow: '0ms' });
      await s.start();
      const port = rig.port(s);
      const fwd = await startForwarder(port, '00800000a0000001');
      const rnd = createPrng(20240501);
      const int = (n: number) => Math.floor(rnd() * n);
      const eui = Buffer.from('00800000a0000001', 'hex');
      const good = (fcnt: number) => buildDataUp({ devAddr: 0x01020304, fcnt, fPort: 1, payload: encodeSensor({ temperature: fcnt / 10, humidity: 50, battery: 80 }), nwkSKey: NWK, appSKey: APP });
      const rxpk = (phy: Buffer, extra: Record<string, unknown> = {}) => ({ tmst: int(2 ** 32), freq: 868.1, datr: 'SF7BW125', codr: '4/5', rssi: -int(120), lsnr: 5, data: phy.toString('base64'), ...extra });
      const datagram = (body: unknown, id = 0) => Buffer.concat([Buffer.from([2, int(256), int(256), id]), eui, Buffer.from(typeof body === 'string' ? body : JSON.stringify(body))]);

      let fcnt = 0;
      let goodSent = 0;
      const N = 1500;
      for (let i = 0; i < N; i++) {
        const kind = int(8);
        let b: Buffer;
        if (kind === 0) {
          b = datagram({ rxpk: [rxpk(good(++fcnt))] });
          goodSent++;
        } else if (kind === 1) {
          const phy = Buffer.from(good(fcnt + 1));
          phy[int(phy.length)] ^= 1 << int(8); // one bit flipped anywhere: MIC, header or payload
          b = datagram({ rxpk: [rxpk(phy)] });
        } else if (kind === 2) {
          const phy = good(fcnt + 1);
          b = datagram({ rxpk: [rxpk(phy.subarray(0, int(phy.length)))] }); // strictly shorter than the frame
        } else if (kind === 3) {
          const d = datagram({ rxpk: [rxpk(good(fcnt + 1))], stat: { rxnb: 1 } });
          b = d.subarray(0, int(d.length));
        } else if (kind === 4) {
          b = Buffer.from(Array.from({ length: int(300) }, () => int(256)));
        } else if (kind === 5) {
          const junk = [null, 1, 'x', [], {}, { data: 5 }, { tmst: 'a' }, rxpk(Buffer.from([int(256)])), rxpk(good(1), { stat: -1 }), rxpk(good(1), { data: '@@@' }), rxpk(good(1), { modu: 'FSK' })];
          b = datagram({ rxpk: [junk[int(junk.length)], junk[int(junk.length)]] });
        } else if (kind === 6) {
          b = datagram('{"rxpk":[{"data":' + '['.repeat(int(50)), [0, 2, 5, 9][int(4)]);
        } else {
          b = datagram({ rxpk: [rxpk(Buffer.from(Array.from({ length: int(64) }, () => int(256))))] });
        }
        await fwd.raw(b);
        if (i % 100 === 99) await until(() => s.health().lora.listener!.datagrams >= i + 1, 10_000, `datagram ${i + 1} handled`);
      }
      await until(() => s.health().lora.listener!.datagrams === N, 10_000, 'every datagram handled');
      const h = s.health();
      const st = h.lora.listener!;
      const c = st.counters;
      expect(c.internal ?? 0).toBe(0);
      // Every datagram: a PUSH_DATA or PULL_DATA that was acked, a TX_ACK nobody waited for, or a refusal by reason.
      const acked = st.forwarders.reduce((n, f) => n + f.pushes + f.pulls, 0);
      const refusedDatagrams = ['too_short', 'bad_version', 'unknown_type', 'too_large', 'bad_json', 'too_many_forwarders', 'unknown_tx_ack'].reduce((n, k) => n + (c[k] ?? 0), 0);
      expect(acked + refusedDatagrams).toBe(N);
      // Every rxpk of the accepted datagrams: handed to the sensor or refused by reason.
      const rxpkSeen = st.forwarders.reduce((n, f) => n + f.rxpk, 0);
      const refusedRx = ['bad_rxpk', 'bad_base64', 'crc_bad', 'not_lora', 'malformed_frame', 'not_uplink', 'unknown_devaddr', 'unknown_deveui'].reduce((n, k) => n + (c[k] ?? 0), 0);
      expect(st.uplinks + refusedRx).toBe(rxpkSeen);
      // Each frame that reached the sensor: accepted once, or refused by reason.
      const sensorRefused = Object.values(h.lora.refused).reduce((n, v) => n + v, 0);
      expect(h.lora.uplinks + h.lora.copies + sensorRefused).toBe(st.uplinks);
      // Every good frame decoded, in order, and nothing else did.
      await until(() => rig.readings.filter((r) => r.point === 'temperature_1').length >= goodSent, 10_000, 'good frames decoded');
      expect(h.lora.uplinks).toBe(goodSent);
      expect(rig.readings.filter((r) => r.point === 'temperature_1').map((r) => r.value)).toEqual(Array.from({ length: goodSent }, (_, i) => (i + 1) / 10));
      await fwd.close();
    } finally {
      await rig.close();
    }
  });
});
