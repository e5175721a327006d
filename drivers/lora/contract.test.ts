// The driver contract (test/support/drivers/contract.ts) for lora: a simulated packet forwarder
// on loopback sends an ABP sensor's uplink every 50 ms (frames by the tests' own crypto). A
// sensor has no wire of its own to unplug, and its silence is the devices service's
// offlineAfter, not the driver's: start/stop/restart and write refusals are what applies.
import type { Driver } from '../../runtime/types.ts';
import { driverContractSuite } from '../../test/support/drivers/contract.ts';
import { buildDataUp } from '../../test/support/lora/crypto.ts';
import { encodeSensor } from '../../test/support/lora/codec.ts';
import { startForwarder } from '../../test/support/lora/forwarder.ts';
import { APP, createRig, NWK } from '../../test/support/lora/rig.ts';

driverContractSuite({
  family: 'lora',
  readOnlyPoint: 'temperature_1',
  writable: { point: 'setpoint', value: { bytes: '0102', fPort: 4 } },
  can: {},
  async rig() {
    const rig = createRig();
    const s = await rig.sensor('dut', {
      mode: 'abp', devEui: '00000000000000d7', devAddr: '260000d7', nwkSKey: NWK.toString('hex'), appSKey: APP.toString('hex'), dedupWindow: '0ms',
      points: { temperature_1: { unit: '°C' }, setpoint: { writable: true } },
    });
    let fwd: Awaited<ReturnType<typeof startForwarder>> | undefined;
    let aimed = 0;
    let fcnt = 0;
    let timer: NodeJS.Timeout | undefined;
    const start = s.start.bind(s);
    // The forwarder can only aim at the listener once it is bound (port 0: a new port after each
    // restart, where a real forwarder keeps its fixed one): it follows the sensor's starts.
    s.start = async () => {
      await start();
      if (aimed !== rig.port(s)) {
        await fwd?.close();
        aimed = rig.port(s);
        fwd = await startForwarder(aimed, 'aa555a00000000d7');
      }
      timer ??= setInterval(() => {
        void fwd!.uplink(buildDataUp({ devAddr: 0x260000d7, fcnt: fcnt++, fPort: 2, payload: encodeSensor({ temperature: 20, humidity: 50, battery: 90 }), nwkSKey: NWK, appSKey: APP })).catch(() => {});
      }, 50);
    };
    return {
      driver: s as unknown as Driver,
      readings: rig.readings,
      events: rig.events,
      async close() {
        clearInterval(timer);
        await fwd?.close();
        await rig.close();
      },
    };
  },
});
