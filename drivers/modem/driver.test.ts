// The modem driver against the AT modem simulator on a real socat pty pair: the readings of a
// Quectel EC25 (LTE), a BG96 on NB-IoT and a SIMCom SIM7600 (no AT+QENG), error replies, URCs,
// echo, lines split across reads, unknown values, silence and recovery, a modem restart (RDY).
import { afterEach, describe, expect, it } from 'vitest';
import type { Reading } from '../../runtime/types.ts';
import { socatAvailable, startPtyPair, type PtyPair } from '../../test/helpers/socat.ts';
import { sleep, until } from '../../test/helpers/wait.ts';
import { recordingCtx } from '../../test/support/drivers/ctx.ts';
import { createModemSimulator, type ModemSimOptions, type ModemSimulator } from '../../test/support/modem/simulator.ts';
import { modemFamily, modemPoints, modemSchema, type ModemDriver } from './index.ts';

interface Rig {
  pair: PtyPair;
  sim: ModemSimulator;
  driver: ModemDriver;
  readings: Reading[];
  events: ReturnType<typeof recordingCtx>['events'];
  /** Latest value of each point. */
  values(): Record<string, Reading['value']>;
  /** Readings from the call on, once `polls` more polls have emitted theirs (counted by `registration`; a poll emits all its readings at once). */
  nextPolls(polls?: number): Promise<Reading[]>;
}

let open: Rig | undefined;
afterEach(async () => {
  await open?.driver.stop();
  await open?.sim.stop();
  await open?.pair.stop();
  open = undefined;
});

async function rig(model: ModemSimOptions['model'], sim: Omit<ModemSimOptions, 'path' | 'model'> = {}, fields: Record<string, unknown> = {}): Promise<Rig> {
  const pair = await startPtyPair();
  const s = createModemSimulator({ path: pair.b, model, ...sim });
  await s.start();
  const rec = recordingCtx();
  // The production command timeout (2 s): a shorter one made a loaded CI machine's slow replies
  // count as silence. The silence test sets its own.
  const cfg = modemSchema.parse({ port: pair.a, timeout: '2s', maxBackoff: '1s', ...fields });
  // Polls 4 times a second to keep the test short: below the 1 s the schema allows an operator.
  const driver = (await modemFamily().create({ id: 'wan', driver: 'modem', ...cfg, interval: 250 }, rec.ctx)) as ModemDriver;
  const r: Rig = {
    pair, sim: s, driver, readings: rec.readings, events: rec.events,
    values: () => rec.values('wan'),
    async nextPolls(polls = 1) {
      const from = rec.readings.length;
      await until(() => rec.readings.slice(from).filter((x) => x.point === 'registration').length >= polls, 8000, `${polls} polls`);
      return rec.readings.slice(from);
    },
  };
  open = r;
  return r;
}

const units = Object.fromEntries(modemPoints().map((p) => [p.name, p.unit]));

describe.skipIf(!socatAvailable())('modem driver on a simulated modem', () => {
  it('EC25 (LTE): every point with its value and unit; setup made; values follow the modem', async () => {
    const r = await rig('EC25');
    await r.driver.start();
    await r.nextPolls();
    expect(r.values()).toEqual({
      rssi_dbm: -73, rsrp_dbm: -95, rsrq_db: -10, sinr_db: 10, // SINR field 150 in fifths of a dB: 150 / 5 - 20
      registered: true, registration: 'home', operator: 'Telekom.de', access: 'LTE', cell_id: '1A2D001',
    });
    for (const x of r.readings) {
      expect(x.unit, x.point).toBe(units[x.point]);
      expect(x.quality).toBe('good');
    }
    expect(r.sim.settings).toEqual({ cmee: 1, creg: 2, cereg: 2, c5greg: 0 });
    expect(r.sim.echo).toBe(false); // ATE0 at start
    expect(r.driver.health()).toMatchObject({ state: 'online', errors: 0, commands: { qeng: 'yes', cesq: 'yes', c5greg: 'no' } });

    r.sim.values.csq.rssi = 10;
    r.sim.values.qeng = ['"servingcell","CONNECT","LTE","FDD",262,01,1A2D002,124,1300,3,5,5,1D3F,-101,-12,-70,100,30'];
    r.sim.values.cereg.ci = '1A2D002';
    const later = await r.nextPolls(1);
    const got = Object.fromEntries(later.map((x) => [x.point, x.value]));
    expect(got).toMatchObject({ rssi_dbm: -93, rsrp_dbm: -101, rsrq_db: -12, sinr_db: 0, cell_id: '1A2D002' });
  });

  it('BG96 on NB-IoT: access NB-IoT, roaming, cell id from +CEREG', async () => {
    const r = await rig('BG96');
    await r.driver.start();
    await r.nextPolls();
    expect(r.values()).toEqual({
      rssi_dbm: -89, rsrp_dbm: -112, rsrq_db: -13, sinr_db: -8,
      registered: true, registration: 'roaming', operator: 'Vodafone.de NB-IoT', access: 'NB-IoT', cell_id: '0B3C2D4',
    });
  });

  it('SIM7600: AT+QENG asked once, never again; RSRP/RSRQ from AT+CESQ; no SINR reading', async () => {
    const r = await rig('SIM7600');
    await r.driver.start();
    await r.nextPolls(3);
    expect(r.sim.requests('AT+QENG="servingcell"')).toBe(1);
    expect(r.sim.requests('AT+C5GREG=2')).toBe(1);
    expect(r.sim.requests('AT+C5GREG?')).toBe(0); // refused at setup: the read form is never tried
    expect(r.sim.requests('AT+CSQ')).toBeGreaterThanOrEqual(3);
    expect(r.values()).toEqual({
      rssi_dbm: -63, rsrp_dbm: -89, rsrq_db: -8,
      registered: true, registration: 'home', operator: 'CHINA MOBILE', access: 'LTE', cell_id: '4C5D6E7',
    });
    expect(r.driver.health()).toMatchObject({ state: 'online', errors: 0, commands: { qeng: 'no', c5greg: 'no', cesq: 'yes' } });
  });

  it('qeng: on keeps asking and counts the refusal; off never asks', async () => {
    const on = await rig('SIM7600', {}, { commands: { qeng: 'on' } });
    await on.driver.start();
    await on.nextPolls(2);
    expect(on.sim.requests('AT+QENG="servingcell"')).toBeGreaterThanOrEqual(2);
    expect(on.driver.health().errorsByKind.exception).toBeGreaterThanOrEqual(2);
    await on.driver.stop();
    await on.sim.stop();
    await on.pair.stop();
    const off = await rig('EC25', {}, { commands: { qeng: 'off' } });
    await off.driver.start();
    await off.nextPolls(2);
    expect(off.sim.requests('AT+QENG="servingcell"')).toBe(0);
    expect(off.values()).toMatchObject({ rsrp_dbm: -96, rsrq_db: -10 }); // from AT+CESQ
    expect(off.values().sinr_db).toBeUndefined();
  });

  it('+CME ERROR: 4 on the first ask means unsupported; another +CME error is a device error of the poll, asked again', async () => {
    const r = await rig('EC25', { errors: { 'AT+CESQ': '+CME ERROR: 4', 'AT+COPS?': '+CME ERROR: 30' } });
    await r.driver.start();
    await r.nextPolls(3);
    expect(r.sim.requests('AT+CESQ')).toBe(1);
    expect(r.sim.requests('AT+COPS?')).toBeGreaterThanOrEqual(3);
    const h = r.driver.health();
    // +CME ERROR: 30 (no network service) says nothing about support: still unknown, still asked.
    expect(h).toMatchObject({ state: 'online', commands: { cesq: 'no', cops: 'unknown' } });
    expect(h.errorsByKind.exception).toBeGreaterThanOrEqual(3);
    expect(h.lastError).toBe('exception: AT+COPS?: +CME ERROR: 30');
    expect(r.values().operator).toBeUndefined();
    expect(r.values()).toMatchObject({ rssi_dbm: -73, registration: 'home', access: 'LTE' }); // access from +QENG
    // The modem answers COPS again: the operator comes back.
    r.sim.errors.delete('AT+COPS?');
    const later = await r.nextPolls(1);
    expect(later.find((x) => x.point === 'operator')?.value).toBe('Telekom.de');
    expect(r.driver.health().commands.cops).toBe('yes');
  });

  it('URCs in the middle of replies and between them are not taken as answers', async () => {
    const r = await rig('EC25', { chunk: 7 }); // and every reply cut into 7-byte writes
    await r.driver.start();
    await r.nextPolls();
    for (let i = 0; i < 20; i++) r.sim.urcsInNextReply(['+CEREG: 3', 'RING', '+CSQN: 2,99', '+CEREG: 1,"FFFE","0000001",7'], i % 2 ? 'after' : 'before');
    await r.sim.urc(['+QIND: "csq",5,99', 'RDY']);
    const later = await r.nextPolls(2);
    const got = Object.fromEntries(later.map((x) => [x.point, x.value]));
    expect(got).toMatchObject({ rssi_dbm: -73, registration: 'home', registered: true, cell_id: '1A2D001', rsrp_dbm: -95 });
    const h = r.driver.health();
    expect(h.errors).toBe(0);
    expect(h.at.urcsByName).toMatchObject({ '+CEREG': expect.any(Number), RING: expect.any(Number), '+CSQN': expect.any(Number), '+QIND': 1, RDY: 1 });
    expect(h.at.urcsByName['+CEREG']).toBeGreaterThanOrEqual(8);
  });

  it('reads replies with echo on, when the modem keeps echoing despite ATE0', async () => {
    const r = await rig('EC25', { stickyEcho: true });
    await r.driver.start();
    await r.nextPolls();
    expect(r.sim.echo).toBe(true);
    expect(r.values()).toMatchObject({ rssi_dbm: -73, operator: 'Telekom.de', cell_id: '1A2D001' });
    expect(r.driver.health().at.echoes).toBeGreaterThanOrEqual(10);
    expect(r.driver.health().errors).toBe(0);
  });

  it('unknown values (99, 255, "-") give no reading, not a number', async () => {
    const r = await rig('EC25', {
      values: {
        csq: { rssi: 99, ber: 99 },
        cesq: [99, 99, 255, 255, 255, 255],
        qeng: ['"servingcell","NOCONN","LTE","FDD",262,01,1A2D001,123,1300,3,5,5,1D3F,-,-,-,-,-'],
      },
    });
    await r.driver.start();
    await r.nextPolls(2);
    const points = new Set(r.readings.map((x) => x.point));
    for (const p of ['rssi_dbm', 'rsrp_dbm', 'rsrq_db', 'sinr_db']) expect(points.has(p), p).toBe(false);
    expect(r.values()).toMatchObject({ registered: true, operator: 'Telekom.de' });
    expect(r.driver.health().errors).toBe(0);
  });

  it('not registered: searching, no operator, no cell id', async () => {
    const r = await rig('SIM7600', {
      values: { cops: { mode: 0 }, creg: { stat: 2 }, cereg: { stat: 2 }, csq: { rssi: 3, ber: 99 }, cesq: [99, 99, 255, 255, 255, 255] },
    });
    await r.driver.start();
    await r.nextPolls();
    expect(r.values()).toEqual({ rssi_dbm: -107, registered: false, registration: 'searching' });
  });

  it('silence: timeouts make it offline (device.fault raise), the next answer brings it back (clear) and sets it up again', async () => {
    const r = await rig('EC25', {}, { timeout: '300ms' });
    await r.driver.start();
    await r.nextPolls();
    r.sim.silent = true;
    await until(() => r.driver.health().state === 'offline', 8000, 'offline');
    const raise = r.events.filter((e) => e.type === 'device.fault' && e.state === 'raise');
    expect(raise).toHaveLength(1);
    expect(raise[0]).toMatchObject({ device: 'wan', severity: 'warning', data: { driver: 'modem', kind: 'timeout', failures: 3 } });
    expect(r.driver.health().errorsByKind.timeout).toBeGreaterThanOrEqual(3);
    expect(r.driver.health().lastError).toMatch(/^timeout: no reply to AT\S* within 300 ms$/);
    const setups = r.sim.requests('ATE0');
    // The modem restarts silently: settings lost, echo back on.
    Object.assign(r.sim.settings, { cmee: 0, cereg: 0, creg: 0 });
    r.sim.echo = true;
    r.sim.silent = false;
    await until(() => r.driver.health().state === 'online', 8000, 'online again');
    expect(r.events.filter((e) => e.type === 'device.fault' && e.state === 'clear')).toHaveLength(1);
    await r.nextPolls();
    expect(r.sim.requests('ATE0')).toBeGreaterThan(setups);
    expect(r.sim.settings).toMatchObject({ cmee: 1, cereg: 2, creg: 2 });
    expect(r.values()).toMatchObject({ cell_id: '1A2D001' });
  });

  it('RDY (the modem restarted) sets it up again', async () => {
    const r = await rig('EC25');
    await r.driver.start();
    await r.nextPolls();
    Object.assign(r.sim.settings, { cmee: 0, cereg: 0 });
    await r.sim.urc(['RDY']);
    await until(() => r.sim.settings.cereg === 2 && r.sim.settings.cmee === 1, 8000, 'setup after RDY');
    expect(r.sim.requests('ATE0')).toBe(2);
  });

  it('stops promptly with a command in flight; no readings after stop', async () => {
    const r = await rig('EC25', {}, { timeout: '10s' });
    await r.driver.start();
    await r.nextPolls();
    r.sim.silent = true;
    await sleep(400);
    const t0 = performance.now();
    await r.driver.stop();
    expect(performance.now() - t0).toBeLessThan(1500);
    const n = r.readings.length;
    await sleep(300);
    expect(r.readings.length).toBe(n);
    expect(r.driver.health().state).toBe('stopped');
  });
});
