// The ChirpStack v4 source against a real mosquitto: messages shaped like ChirpStack's MQTT
// integration (`application/<id>/device/<devEUI>/event/up`, JSON of integration.UplinkEvent)
// become readings: its decoded `object` as is, else the sensor's codec over `data`; rxInfo gives
// the radio points; a redelivered fCnt counts once; junk is counted; downlinks are published to
// `.../command/down`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mosquittoAvailable, startMosquitto, subscribeCollector, type Mosquitto } from '../../test/helpers/mosquitto.ts';
import { encodeSensor } from '../../test/support/lora/codec.ts';
import { createRig } from '../../test/support/lora/rig.ts';
import { until } from '../../test/helpers/wait.ts';

const APP_ID = '8c5d2d3f-0000-4000-8000-00000000cafe';

function upEvent(devEui: string, fCnt: number, o: { data?: Buffer; object?: Record<string, unknown>; rssi?: number[] } = {}) {
  return {
    deduplicationId: `3ac7e3c4-4401-4b8d-9386-a5c902f9202${fCnt % 10}`,
    time: '2024-05-01T10:00:00.000+00:00',
    deviceInfo: {
      tenantId: '52f14cd4-c6f1-4fbd-8f87-4025e1d49242', tenantName: 'ChirpStack', applicationId: APP_ID, applicationName: 'street',
      deviceProfileId: 'cf2aec2f-03e1-4a60-a32c-0faeef5730d8', deviceProfileName: 'EM300', deviceName: 'sensor', devEui, tags: {},
    },
    devAddr: '00189440', adr: true, dr: 5, fCnt, fPort: 2, confirmed: false,
    ...(o.data && { data: o.data.toString('base64') }),
    ...(o.object && { object: o.object }),
    rxInfo: (o.rssi ?? [-61]).map((rssi, i) => ({ gatewayId: `0016c001f153a14${i}`, uplinkId: 4217106255 + i, rssi, snr: 6.5 - i, channel: 2, location: {}, context: 'EFwMtA==', metadata: { region_common_name: 'EU868' }, crcStatus: 'CRC_OK' })),
    txInfo: { frequency: 868500000, modulation: { lora: { bandwidth: 125000, spreadingFactor: 7, codeRate: 'CR_4_5' } } },
  };
}

describe.skipIf(!mosquittoAvailable())('lora source: chirpstack', () => {
  let broker: Mosquitto;
  beforeAll(async () => {
    broker = await startMosquitto();
  });
  afterAll(async () => {
    await broker?.destroy();
  });

  it('turns ChirpStack uplink events into readings and publishes downlinks', async () => {
    const rig = createRig();
    const pub = await subscribeCollector(broker.url, 'application/+/device/+/command/down');
    try {
      const cs = { url: broker.url };
      const a = await rig.sensor('soil-1', { source: 'chirpstack', devEui: '0004a30b001c0001', chirpstack: cs, points: { temperature_1: { unit: '°C', writable: true } } });
      const b = await rig.sensor('soil-2', { source: 'chirpstack', devEui: '0004a30b001c0002', chirpstack: { ...cs, application: APP_ID } });
      await a.start();
      await b.start();
      // Both up-event subscriptions (every application for soil-1, APP_ID for soil-2) granted.
      await until(() => a.health().lora.chirpstack?.subscribed === 2, 10_000, 'MQTT subscribed');
      const send = (devEui: string, body: unknown) => pub.client.publishAsync(`application/${APP_ID}/device/${devEui}/event/up`, typeof body === 'string' ? body : JSON.stringify(body));

      // No `object`: the sensor's codec decodes `data`.
      await send('0004a30b001c0001', upEvent('0004a30b001c0001', 10, { data: encodeSensor({ temperature: 19.5, humidity: 60, battery: 77 }), rssi: [-90, -70] }));
      // ChirpStack decoded it: used as is.
      await send('0004a30b001c0002', upEvent('0004a30b001c0002', 3, { object: { moisture: 31.5, probe: { ok: true } } }));
      await until(() => rig.last('soil-1', 'temperature_1') !== undefined && rig.last('soil-2', 'moisture') !== undefined, 10_000, 'readings');
      expect(rig.last('soil-1', 'temperature_1')).toMatchObject({ value: 19.5, unit: '°C', quality: 'good' });
      expect(rig.last('soil-1', 'rssi_dbm')!.value).toBe(-70);
      expect(rig.last('soil-1', 'sf')!.value).toBe(7);
      expect(a.health().lora).toMatchObject({ fcntUp: 10, battery: 77, gateway: '0016c001f153a141', uplinks: 1, source: 'chirpstack' });
      expect(rig.values('soil-2')).toMatchObject({ moisture: 31.5, 'probe.ok': true, rssi_dbm: -61, snr_db: 6.5 });

      // A redelivery of the same fCnt, junk, and a device nobody configured.
      await send('0004a30b001c0001', upEvent('0004a30b001c0001', 10, { data: encodeSensor({ temperature: 19.5, humidity: 60, battery: 77 }) }));
      await send('0004a30b001c0001', '{"deviceInfo":');
      await send('00000000000000ff', upEvent('00000000000000ff', 1, { object: { x: 1 } }));
      await send('0004a30b001c0001', upEvent('0004a30b001c0001', 11, { data: encodeSensor({ temperature: 20, humidity: 60, battery: 76 }) }));
      await until(() => rig.last('soil-1', 'temperature_1')?.value === 20, 10_000, 'next uplink');
      expect(a.health().lora.copies).toBe(1);
      expect(a.health().lora.chirpstack!.counters).toMatchObject({ bad_json: 1, unknown_deveui: 1 });
      expect(rig.readings.filter((r) => r.device === 'soil-1' && r.point === 'temperature_1')).toHaveLength(2);

      // Downlinks go to ChirpStack's queue.
      const receipt = await a.write('downlink', { bytes: '0a0b', fPort: 5 });
      expect(receipt).toMatchObject({ status: 'queued', via: 'chirpstack', fPort: 5 });
      const m = await pub.waitFor((x) => x.topic === `application/${APP_ID}/device/0004a30b001c0001/command/down`);
      expect(m.payload).toEqual({ devEui: '0004a30b001c0001', confirmed: false, fPort: 5, data: Buffer.from('0a0b', 'hex').toString('base64') });
      await a.stop();
      await b.stop();
    } finally {
      await pub.close();
      await rig.close();
    }
  });
});
