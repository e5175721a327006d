// The driver contract every family runs (like runtime/outbox's abstract suite): each family's
// test calls driverContractSuite() with a harness that builds a device of that family from the
// definitions the agent ships (builtinDrivers) against a real device side (socat pty + simulator,
// a real Modbus server). What a harness cannot do (the sim has no wire to unplug) it leaves out.
import { describe, expect, it } from 'vitest';
import type { DeviceState, Driver, Reading, WaysideEvent } from '../../../runtime/types.ts';
import { sleep, until } from '../../helpers/wait.ts';

export interface ContractRig {
  driver: Driver;
  readings: Reading[];
  events: WaysideEvent[];
  /** The device stops answering (or streaming) while the wire stays up; false: it answers again. */
  silence?(on: boolean): void;
  /** The adapter or server goes away (pty removed, TCP server closed) ... */
  unplug?(): Promise<void>;
  /** ... and comes back, device side answering again. */
  replug?(): Promise<void>;
  close(): Promise<void>;
}

export interface ContractHarness {
  family: string;
  /** A started-or-not driver over a fresh device side. `slow`: long request timeouts (stop deadline test). */
  rig(opts: { slow?: boolean }): Promise<ContractRig>;
  /** A point the device has and that takes no writes. */
  readOnlyPoint: string;
  /** A point and value the device accepts, if the family writes at all. */
  writable?: { point: string; value: unknown };
  /** What the rig can do to the device side (its rigs then implement silence / unplug+replug). */
  can: { silence?: boolean; unplug?: boolean };
}

const STOP_DEADLINE_MS = 1500;

export function driverContractSuite(h: ContractHarness, opts: { skip?: boolean } = {}): void {
  describe.skipIf(!!opts.skip)(`driver contract: ${h.family}`, () => {
    const withRig = async (fn: (r: ContractRig) => Promise<void>, o: { slow?: boolean } = {}) => {
      const r = await h.rig(o);
      try {
        await fn(r);
      } finally {
        await r.driver.stop().catch(() => {});
        await r.close();
      }
    };
    const online = (r: ContractRig, what = 'online') => until(() => r.driver.health().state === 'online', 8000, `${h.family} ${what}`);
    const seen = (r: ContractRig, states: DeviceState[], ms = 8000) => {
      const got = new Set<DeviceState>();
      return until(() => (got.add(r.driver.health().state), states.every((s) => got.has(s))), ms, `${h.family} states ${states.join(', ')} (saw ${[...got].join(', ')})`);
    };

    it('starts, stops (no readings after stop) and restarts', async () => {
      await withRig(async (r) => {
        await r.driver.start();
        await online(r);
        await until(() => r.readings.length > 0, 5000, 'first reading');
        await r.driver.stop();
        expect(r.driver.health().state).toBe('stopped');
        const n = r.readings.length;
        await sleep(300);
        expect(r.readings.length).toBe(n);
        await r.driver.start();
        await online(r, 'online after restart');
        await until(() => r.readings.length > n, 5000, 'a reading after restart');
      });
    });

    it.skipIf(!h.writable)('accepts a write to a writable point', async () => {
      await withRig(async (r) => {
        await r.driver.start();
        await online(r);
        await r.driver.write!(h.writable!.point, h.writable!.value);
      });
    });

    it('refuses writes to unknown and read-only points with an error naming device and point', async () => {
      await withRig(async (r) => {
        await r.driver.start();
        await online(r);
        expect(r.driver.write, 'a driver answers write commands, if only to refuse them').toBeTypeOf('function');
        await expect(r.driver.write!('no_such_point', 1)).rejects.toThrow(/"dut".*no_such_point|no_such_point.*"dut"/);
        await expect(r.driver.write!(h.readOnlyPoint, 1)).rejects.toThrow(new RegExp(`"dut".*${h.readOnlyPoint}.*(not writable|read-only)`));
        expect(r.driver.health().state).toBe('online');
      });
    });

    it.skipIf(!h.can.silence)('goes degraded, then offline while the device is silent, and online when it answers again', async () => {
      await withRig(async (r) => {
        await r.driver.start();
        await online(r);
        r.silence!(true);
        await seen(r, ['degraded', 'offline']);
        expect(r.events.some((e) => e.type === 'device.fault' && e.state === 'raise')).toBe(true);
        r.silence!(false);
        await online(r, 'online after silence');
        expect(r.events.some((e) => e.type === 'device.fault' && e.state === 'clear')).toBe(true);
      });
    });

    it.skipIf(!h.can.silence)(`stops within ${STOP_DEADLINE_MS} ms with a dead device mid-request`, async () => {
      await withRig(async (r) => {
        await r.driver.start();
        await online(r);
        r.silence!(true);
        await sleep(300); // a request with a long timeout is now in flight (or about to be)
        const t0 = performance.now();
        await r.driver.stop();
        expect(performance.now() - t0).toBeLessThan(STOP_DEADLINE_MS);
        expect(r.driver.health().state).toBe('stopped');
      }, { slow: true });
    });

    it.skipIf(!h.can.unplug)('goes offline when unplugged and recovers after replug without a restart', async () => {
      await withRig(async (r) => {
        await r.driver.start();
        await online(r);
        await r.unplug!();
        await until(() => r.driver.health().state === 'offline', 8000, `${h.family} offline after unplug`);
        const n = r.readings.length;
        await r.replug!();
        await online(r, 'online after replug');
        await until(() => r.readings.length > n, 5000, 'a reading after replug');
      });
    });
  });
}
