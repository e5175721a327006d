// The status page in a real browser (Debian's chromium driven by playwright-core) at a phone's
// 390×844, against a real agent: a sim device, a Modbus TCP meter (modbus-serial's ServerTCP)
// polled once an hour so only "read now" can show a new value, and a second meter whose server
// the test closes so it goes offline. Login refused then accepted, devices listed with live
// values, the offline meter turning red within its offline timeout, "read now", logout; the
// page may cause no console error, no failed request, and weighs at most 100 KB transferred.
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, screenshot, watchPage, type PageProblems } from './support/browser/index.ts';
import { createImage, startTcpSim, type RegisterImage, type TcpSim } from './support/modbus/sim.ts';
import { PASSWORD, startStatusAgent, USER, type StatusAgent } from './support/status/agent.ts';

const OFFLINE_AFTER_MS = 2000;
let s: StatusAgent;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let problems: PageProblems;
let img1: RegisterImage;
let sim1: TcpSim;
let sim2: TcpSim;
let sim2Open = true;

beforeAll(async () => {
  img1 = createImage({ holding: { 0: [2301] } });
  sim1 = await startTcpSim(() => img1);
  sim2 = await startTcpSim(() => createImage({ holding: { 0: [500] } }));
  s = await startStatusAgent({
    devices: `  - { id: sim-1, driver: sim, interval: 300ms, points: [pm25, noise_db, lamp_level] }
  - id: meter-1
    driver: modbus
    transport: { type: tcp, host: 127.0.0.1, port: ${sim1.port} }
    interval: 1h
    timeout: 500ms
    points: [{ name: voltage, table: holding, address: 0, scale: 0.1, unit: V }]
  - id: meter-2
    driver: modbus
    transport: { type: tcp, host: 127.0.0.1, port: ${sim2.port} }
    interval: 250ms
    timeout: 200ms
    retries: 0
    offlineAfter: ${OFFLINE_AFTER_MS / 1000}s
    points: [{ name: current, table: holding, address: 0, scale: 0.01, unit: A }]`,
  });
  browser = await launchBrowser();
  context = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 1, isMobile: true, hasTouch: true });
  page = await context.newPage();
  problems = watchPage(page);
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await s?.close();
  await sim1?.close();
  if (sim2Open) await sim2?.close();
});

/** The computed left border colour of an element (runs in the page). */
const borderColour = (e: unknown) => (globalThis as unknown as { getComputedStyle(e: unknown): { borderLeftColor: string } }).getComputedStyle(e).borderLeftColor;
const card = (id: string) => page.locator(`article[data-device="${id}"]`);
const value = (id: string, point: string) => card(id).locator(`tr[data-point="${point}"] td.v`);

describe('status page in a browser', () => {
  it('refuses a wrong password, then logs in', async () => {
    await page.goto(`${s.base}/status`);
    expect(new URL(page.url()).pathname).toBe('/status/login');
    await screenshot(page, 'status-login');
    await page.fill('input[name=username]', USER);
    await page.fill('input[name=password]', 'not-the-password');
    await page.click('button[type=submit]');
    await page.waitForURL(/\/status\/login\?e=credentials$/);
    expect(await page.locator('#login-error').textContent()).toBe('Wrong user name or password.');
    expect(await page.locator('#devices').count()).toBe(0);
    await screenshot(page, 'status-login-refused');

    await page.fill('input[name=username]', USER);
    await page.fill('input[name=password]', PASSWORD);
    await page.click('button[type=submit]');
    await page.waitForURL(/\/status\/$/);
    await page.locator('#conn', { hasText: 'Live' }).waitFor({ timeout: 10_000 });
    expect(await page.locator('#gw').textContent()).toBe('pole-status');
  });

  it('lists every device with its state and live values', async () => {
    await card('meter-2').waitFor();
    expect(await page.locator('article[data-device]').evaluateAll((els) => els.map((e) => e.getAttribute('data-device')))).toEqual(['sim-1', 'meter-1', 'meter-2']);
    await page.waitForFunction(`document.querySelectorAll('article[data-state="online"]').length === 3`, undefined, { timeout: 10_000 });
    expect(await value('meter-1', 'voltage').textContent()).toBe('230.1');
    expect(await card('meter-1').locator('tr[data-point="voltage"] td.u').textContent()).toBe('V');
    // The sim's values change every 300 ms: the page shows them change without a reload.
    const seen = new Set<string>();
    await expect.poll(async () => {
      seen.add((await value('sim-1', 'pm25').textContent()) ?? '');
      return seen.size;
    }, { timeout: 10_000, interval: 200 }).toBeGreaterThanOrEqual(3);
    expect([...seen].every((v) => v === '' || Number.isFinite(Number(v)))).toBe(true);
    // Green for online.
    expect(await card('sim-1').evaluate(borderColour)).toBe('rgb(21, 128, 61)');
    await screenshot(page, 'status-devices');
  });

  it('"read now" reads a device outside its poll schedule', async () => {
    img1.holding.set(0, 2345);
    await page.waitForTimeout(700);
    expect(await value('meter-1', 'voltage').textContent()).toBe('230.1'); // polled once an hour
    await card('meter-1').locator('button.read').click();
    await expect.poll(() => card('meter-1').locator('.res').textContent(), { timeout: 10_000 }).toMatch(/^Read at /);
    await expect.poll(() => value('meter-1', 'voltage').textContent(), { timeout: 10_000 }).toBe('234.5');
  });

  it('a device that stops answering turns red within its offline timeout', async () => {
    const t0 = Date.now();
    await sim2.close();
    sim2Open = false;
    await page.waitForSelector('article[data-device="meter-2"][data-state="offline"]', { timeout: OFFLINE_AFTER_MS + 8000 });
    const ms = Date.now() - t0;
    expect(ms).toBeLessThan(OFFLINE_AFTER_MS + 8000);
    expect(await card('meter-2').evaluate(borderColour)).toBe('rgb(200, 30, 30)');
    expect(await card('meter-2').locator('.state').textContent()).toBe('offline');
    expect(await card('meter-2').locator('.err').isVisible()).toBe(true);
    // The others stay green; the fault shows among the recent events and as a problem.
    expect(await card('sim-1').getAttribute('data-state')).toBe('online');
    await page.locator('#events li', { hasText: 'device.fault raise · meter-2' }).waitFor({ timeout: 10_000 });
    await page.locator('#problems', { hasText: 'device meter-2 offline' }).waitFor({ timeout: 10_000 });
    // "read now" on the dead meter says why it failed.
    await card('meter-2').locator('button.read').click();
    await expect.poll(() => card('meter-2').locator('.res').textContent(), { timeout: 10_000 }).toMatch(/device "meter-2"/);
    expect(await card('meter-2').locator('.res').getAttribute('class')).toBe('res bad');
    await screenshot(page, 'status-offline');
    console.log(`meter-2 shown offline ${ms} ms after its server closed (offlineAfter ${OFFLINE_AFTER_MS} ms)`);
  });

  it('weighs at most 100 KB transferred and caused no console error or failed request', async () => {
    // One fresh load of the page (logged in), until its stream is live.
    const fresh = await context.newPage();
    const freshProblems = watchPage(fresh);
    await fresh.goto(`${s.base}/status/`);
    await fresh.locator('#conn', { hasText: 'Live' }).waitFor({ timeout: 10_000 });
    await fresh.locator('article[data-device="meter-2"]').waitFor();
    const load = await fresh.evaluate<number>(`[...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')]
      .reduce((n, e) => n + (e.transferSize || 0), 0)`);
    console.log(`status page load: ${load} bytes transferred (resource timing), ${freshProblems.bytes()} bytes of response bodies`);
    expect(load).toBeGreaterThan(1000);
    expect(load).toBeLessThanOrEqual(100 * 1024);
    expect(freshProblems.consoleErrors).toEqual([]);
    expect(freshProblems.badResponses).toEqual([]);
    await fresh.close();

    // Resource Timing's transferSize: headers and bodies as they crossed the network.
    const transferred = await page.evaluate<number>(`[...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')]
      .reduce((n, e) => n + (e.transferSize || 0), 0)`);
    // And everything this page moved since its first load (login pages, redirects, the live stream so far).
    console.log(`status page session: ${transferred} bytes by resource timing, ${problems.bytes()} bytes by response sizes`);
    expect(transferred).toBeGreaterThan(0);
    expect(transferred).toBeLessThanOrEqual(100 * 1024);
    expect(problems.bytes()).toBeLessThanOrEqual(100 * 1024);
    expect(problems.consoleErrors).toEqual([]);
    expect(problems.pageErrors).toEqual([]);
    expect(problems.badResponses).toEqual([]);
  });

  it('logs out: the page and its stream need a new login', async () => {
    await page.click('#logout');
    await page.waitForURL(/\/status\/login$/);
    await page.goto(`${s.base}/status/`);
    expect(new URL(page.url()).pathname).toBe('/status/login');
    expect(problems.consoleErrors).toEqual([]);
    expect(problems.badResponses).toEqual([]);
  });
});
