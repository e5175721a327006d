// The wayside nodes in the embedded Node-RED editor, driven in real Chromium as an integrator
// drives them: log in, drag each wayside node from the palette, open its dialog, pick a device
// and a point from the pickers (fed by GET <editor>/wayside/devices), see the warning for a name
// that matches nothing configured, see validation refuse a bad rate or timeout with its reason,
// deploy and see the run-time statuses. Fails on any console error, page error or HTTP error
// (beyond the 401 that makes the editor show its login form). Screenshots: test-artifacts/.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { screenshot } from './support/browser/index.ts';
import {
  dragFromPalette, invalid, invalidReason, login, nodeStatus, openDialog, pick, startEditorSession, typeInto, unexpectedProblems, type EditorSession,
} from './support/flows/editor-browser.ts';

let s: EditorSession;
// The editor can be slow on a loaded machine: wait generously for what it shows.
const poll = <T>(fn: () => T | Promise<T>) => expect.poll(fn, { timeout: 20_000 });
const ids: Record<string, string> = {};
const warningBox = () => s.page.locator('.wayside-warning');
const warning = { isVisible: () => warningBox().isVisible(), innerText: async () => (await warningBox().innerText()).trim() };
const done = async () => {
  await s.page.click('#node-dialog-ok');
  await s.page.waitForSelector('#node-dialog-ok', { state: 'detached' });
};

beforeAll(async () => {
  s = await startEditorSession();
  await login(s);
});
afterAll(async () => {
  await s?.close();
});

describe('wayside nodes in the editor (Chromium)', () => {
  it('shows the wayside palette: one-line labels, own icons, a colour each', async () => {
    const { page } = s;
    const types = ['wayside in', 'wayside out', 'wayside write', 'wayside health', 'wayside infer'];
    // The browser's own view of each palette entry (page globals typed here: this file has no DOM types).
    type Box = { innerText: string; getBoundingClientRect(): { height: number }; querySelector(s: string): Box };
    type Css = { lineHeight: string; backgroundColor: string; backgroundImage: string };
    const looks = await Promise.all(types.map((t) => page.locator(`.red-ui-palette-node[data-palette-type="${t}"]`).evaluate((el: unknown) => {
      const css = (e: Box) => (globalThis as unknown as { getComputedStyle(e: Box): Css }).getComputedStyle(e);
      const node = el as Box;
      const label = node.querySelector('.red-ui-palette-label');
      return { label: label.innerText.trim(), lines: Math.round(label.getBoundingClientRect().height / parseFloat(css(label).lineHeight)), colour: css(node).backgroundColor, icon: css(node.querySelector('.red-ui-palette-icon')).backgroundImage };
    })));
    expect(looks.map((l) => l.label)).toEqual(['wayside in', 'wayside out', 'write', 'health', 'infer']);
    expect(looks.map((l) => l.lines)).toEqual([1, 1, 1, 1, 1]);
    expect(new Set(looks.map((l) => l.colour)).size).toBe(5);
    looks.forEach((l, i) => expect(l.icon).toContain(`/icons/@wayside/node-red-nodes/${types[i].replace(' ', '-')}.svg`));
    await screenshot(page, 'flows-editor-palette');
  });

  it('wayside in: picks a device and a point, warns on an unknown name, refuses taking nothing', async () => {
    const { page } = s;
    ids.in = await dragFromPalette(page, 'wayside in', 200, 100);
    await openDialog(page, ids.in);
    // Fields that do not apply are hidden: the event type only with events ticked.
    await poll(() => page.isVisible('#node-input-eventType')).toBe(false);
    await page.check('#node-input-events');
    expect(await page.isVisible('#node-input-eventType')).toBe(true);
    await page.uncheck('#node-input-events');

    await pick(page, '#node-input-device', 'pole', 'pole-sim');
    expect(await page.inputValue('#node-input-device')).toBe('pole-sim');
    await pick(page, '#node-input-point', 'pm', 'pm25');
    expect(await page.inputValue('#node-input-point')).toBe('pm25');
    await poll(() => warning.isVisible()).toBe(false);
    await screenshot(page, 'flows-editor-in-picked');

    // A pattern that matches is fine; a typo is flagged with what is configured.
    await typeInto(page, '#node-input-device', 'pole-*');
    await poll(() => warning.isVisible()).toBe(false);
    await typeInto(page, '#node-input-device', 'polx');
    await poll(() => warning.innerText()).toBe('No configured device matches "polx". Configured: pole-sim, lamp.');
    await screenshot(page, 'flows-editor-in-unknown-device');
    await typeInto(page, '#node-input-device', 'pole-sim');
    await typeInto(page, '#node-input-point', 'tempx');
    await poll(() => warning.innerText()).toMatch(/^Device "pole-sim" has no point "tempx"\. Its points: pm25, temperature, /);

    // Nothing ticked: the node would send nothing.
    await page.uncheck('#node-input-readings');
    await poll(() => invalid(page, '#node-input-readings')).toBe(true);
    await page.check('#node-input-readings');
    await poll(() => invalid(page, '#node-input-readings')).toBe(false);

    // Left with a device that is not configured: the deployed node says so (below).
    await typeInto(page, '#node-input-device', 'polx');
    await typeInto(page, '#node-input-point', '');
    await done();
  });

  it('wayside write: lists devices, offers only writable points, refuses a bad timeout', async () => {
    const { page } = s;
    ids.write = await dragFromPalette(page, 'wayside write', 200, 200);
    await openDialog(page, ids.write);
    // The arrow opens the list like a drop-down: every configured device, with its driver.
    await page.click('#node-input-device + .wayside-pick');
    const listed = page.locator('.red-ui-autoComplete-container .red-ui-autoComplete-completion');
    await poll(() => listed.allInnerTexts()).toEqual(['pole-sim', 'lamp']);
    await listed.filter({ hasText: /^pole-sim$/ }).click();
    await page.click('#node-input-point + .wayside-pick');
    await poll(() => listed.allInnerTexts()).toEqual(['lamp_level']);
    expect(await page.locator('.red-ui-autoComplete-container').innerText()).toContain('% · number · 0..100 · writable');
    await screenshot(page, 'flows-editor-write-points');
    await listed.first().click();
    expect(await page.inputValue('#node-input-point')).toBe('lamp_level');

    await typeInto(page, '#node-input-point', 'pm25');
    await poll(() => warning.innerText()).toBe('Point "pm25" of "pole-sim" is not writable. Writable: lamp_level.');
    await typeInto(page, '#node-input-point', 'lamp_level');
    await poll(() => warning.isVisible()).toBe(false);

    await typeInto(page, '#node-input-timeout', '-1');
    await poll(() => invalid(page, '#node-input-timeout')).toBe(true);
    expect(await invalidReason(page, '#node-input-timeout')).toBe('Timeout must be more than 0 (empty = the agent\'s default), got -1');
    await screenshot(page, 'flows-editor-write-bad-timeout');
    await typeInto(page, '#node-input-timeout', '5');
    await poll(() => invalid(page, '#node-input-timeout')).toBe(false);
    await done();
  });

  it('wayside out: shows the event fields only for events, needs an event type, refuses a zero rate', async () => {
    const { page } = s;
    ids.out = await dragFromPalette(page, 'wayside out', 450, 100);
    await openDialog(page, ids.out);
    await page.selectOption('#node-input-kind', 'reading');
    await poll(() => page.isVisible('#node-input-eventType')).toBe(false);
    expect(await page.isVisible('#node-input-severity')).toBe(false);
    expect(await page.isVisible('#node-input-unit')).toBe(true);
    await page.selectOption('#node-input-kind', 'event');
    await poll(() => page.isVisible('#node-input-eventType')).toBe(true);
    expect(await page.isVisible('#node-input-unit')).toBe(false);
    await poll(() => invalid(page, '#node-input-eventType')).toBe(true);
    expect(await invalidReason(page, '#node-input-eventType')).toMatch(/^an event needs a type/);
    await typeInto(page, '#node-input-eventType', 'device.fault');
    expect(await invalidReason(page, '#node-input-eventType')).toMatch(/agent's own namespace "device\."/);
    await typeInto(page, '#node-input-eventType', 'air.pm25_high');
    await poll(() => invalid(page, '#node-input-eventType')).toBe(false);

    await typeInto(page, '#node-input-rate', '0');
    await poll(() => invalid(page, '#node-input-rate')).toBe(true);
    expect(await invalidReason(page, '#node-input-rate')).toBe('Max msgs/s must be more than 0 (empty = the agent\'s default), got 0');
    await screenshot(page, 'flows-editor-out-bad-rate');
    await typeInto(page, '#node-input-rate', '20');
    await poll(() => invalid(page, '#node-input-rate')).toBe(false);
    await pick(page, '#node-input-device', 'po', 'pole-sim');
    await done();
  });

  it('wayside health: picks the device it watches', async () => {
    const { page } = s;
    ids.health = await dragFromPalette(page, 'wayside health', 450, 200);
    await openDialog(page, ids.health);
    await typeInto(page, '#node-input-device', 'lamb');
    await poll(() => warning.innerText()).toBe('No configured device is called "lamb". Configured: pole-sim, lamp.');
    await pick(page, '#node-input-device', 'pole', 'pole-sim');
    await poll(() => warning.isVisible()).toBe(false);
    await done();
  });

  it('deploys: wayside in warns at run time, the health node shows the device state', async () => {
    const { page } = s;
    await page.click('#red-ui-header-button-deploy');
    await poll(() => s.f.agent.health().flows?.nodes).toBe(4);
    await poll(() => nodeStatus(page, ids.in)).toBe('no configured device matches "polx" (listening)');
    await poll(() => nodeStatus(page, ids.health)).toBe('pole-sim online');
    await screenshot(page, 'flows-editor-deployed');
  });

  it('wayside infer: refuses a threshold outside 0..1 and a bad model name', async () => {
    const { page } = s;
    ids.infer = await dragFromPalette(page, 'wayside infer', 200, 300);
    await openDialog(page, ids.infer);
    await typeInto(page, '#node-input-threshold', '1.5');
    await poll(() => invalid(page, '#node-input-threshold')).toBe(true);
    expect(await invalidReason(page, '#node-input-threshold')).toBe('threshold: a number from 0 to 1, got "1.5"');
    await typeInto(page, '#node-input-model', 'YOLO v8');
    await poll(() => invalid(page, '#node-input-model')).toBe(true);
    expect(await invalidReason(page, '#node-input-model')).toBe('not a model name: "YOLO v8" (see "wayside models list")');
    await page.click('#node-dialog-cancel');
  });

  it('had no console error, page error or failed request', () => {
    expect(unexpectedProblems(s.problems)).toEqual([]);
  });
});
