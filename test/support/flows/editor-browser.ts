// Driving the agent's embedded Node-RED editor in real Chromium (test/flows-editor-browser*.test.ts):
// an agent with a sim pole and a writable panel and the editor on (a bcrypt user at cost 10),
// the login form, dragging a palette node onto the workspace, opening its dialog, picking from
// an autocomplete list. Not shipped.
import bcrypt from 'bcryptjs';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser, screenshot, watchPage, type PageProblems } from '../browser/index.ts';
import { startFlowsAgent, type FlowsAgent } from './testing.ts';

export const EDITOR_USER = { username: 'integrator', password: 'long-enough-password-1' };

export interface EditorSession {
  f: FlowsAgent;
  browser: Browser;
  page: Page;
  problems: PageProblems;
  close(): Promise<void>;
}

/** The agent (sim pole `pole-sim`, panel `lamp` with a writable `level`) and a browser page on its editor. */
export async function startEditorSession(extraDevices = ''): Promise<EditorSession> {
  const f = await startFlowsAgent(`devices:
  - { id: pole-sim, driver: sim, interval: 500ms }
  - { id: lamp, driver: panel, writable: [level] }
${extraDevices}flows:
  editor:
    enabled: true
    path: /editor
    users:
      - { username: ${EDITOR_USER.username}, password: "${bcrypt.hashSync(EDITOR_USER.password, 10)}", permissions: "*" }
`);
  let browser: Browser | undefined;
  try {
    browser = await launchBrowser();
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    page.setDefaultTimeout(20_000);
    const problems = watchPage(page);
    return {
      f, browser, page, problems,
      close: async () => {
        await browser?.close();
        await f.agent.stop();
      },
    };
  } catch (err) {
    await browser?.close();
    await f.agent.stop();
    throw err;
  }
}

/** Logs in through the editor's own login form and waits for the wayside palette. */
export async function login(s: EditorSession): Promise<void> {
  const { page } = s;
  await page.goto(s.f.url('/editor/'));
  await page.fill('#node-dialog-login-username', EDITOR_USER.username);
  await page.fill('#node-dialog-login-password', EDITOR_USER.password);
  await page.click('#node-dialog-login-submit');
  await page.waitForSelector('.red-ui-palette-node[data-palette-type="wayside in"]', { state: 'visible', timeout: 40_000 });
  // The editor is ready once its workspace tab exists.
  await page.waitForFunction(() => (globalThis as unknown as { RED?: { workspaces?: { active(): string } } }).RED?.workspaces?.active?.());
}

/**
 * Drags a node from the palette onto the workspace at (x, y) of the chart and returns its id
 * (the editor selects what was just dropped).
 */
export async function dragFromPalette(page: Page, type: string, x: number, y: number): Promise<string> {
  const item = page.locator(`.red-ui-palette-node[data-palette-type="${type}"]`);
  await item.scrollIntoViewIfNeeded();
  const from = (await item.boundingBox())!;
  const chart = (await page.locator('#red-ui-workspace-chart').boundingBox())!;
  await page.mouse.move(from.x + from.width / 2, from.y + from.height / 2);
  await page.mouse.down();
  await page.mouse.move(from.x + from.width / 2 + 20, from.y + from.height / 2, { steps: 4 });
  await page.mouse.move(chart.x + x, chart.y + y, { steps: 12 });
  await page.mouse.up();
  return page.waitForFunction(
    (t) => {
      const sel = (globalThis as unknown as { RED: { view: { selection(): { nodes?: { id: string; type: string }[] } } } }).RED.view.selection();
      const n = sel.nodes?.find((x) => x.type === t);
      return n?.id;
    },
    type,
    { timeout: 10_000 },
  ).then((h) => h.jsonValue() as Promise<string>, async (err: Error) => {
    await screenshot(page, `drag-failed-${type.replace(/\W+/g, '-')}`);
    throw err;
  });
}

/** Opens a node's edit dialog by double-clicking it, as a person does. */
export async function openDialog(page: Page, id: string): Promise<void> {
  await page.locator(`[id="${id}"] .red-ui-flow-node`).dblclick();
  await page.waitForSelector('#node-dialog-ok', { state: 'visible' });
  // The buttons show before the form is ready: wait until Node-RED has bound its validation to
  // the fields (every wayside node has a name field), so typing is checked as a person's is.
  await page.waitForFunction(() => {
    const g = globalThis as unknown as { $: { _data(el: unknown, what: string): { keyup?: unknown } | undefined }; document: { querySelector(s: string): unknown } };
    const el = g.document.querySelector('#node-input-name');
    return !!el && !!g.$._data(el, 'events')?.keyup;
  });
}

/** Types `text` into a picker field and clicks the completion labelled `choice`. */
export async function pick(page: Page, input: string, text: string, choice: string): Promise<void> {
  // The whole text at once, then one key (keyup opens the completions): typed key by key on a
  // loaded machine, keystrokes raced the completion list and were lost.
  await page.fill(input, text);
  await page.locator(input).press('End');
  const item = page.locator('.red-ui-autoComplete-container .red-ui-autoComplete-completion', { hasText: new RegExp(`^${choice.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`) });
  await item.first().click();
}

/** Replaces a dialog field's text by typing it (key events: Node-RED validates on keyup and change). */
export async function typeInto(page: Page, input: string, text: string): Promise<void> {
  // The whole text at once, then one key for the keyup handlers (see pick()).
  await page.fill(input, text);
  await page.locator(input).press('End');
  await page.locator(input).dispatchEvent('change');
  await closeCompletions(page);
}

/** Closes an open completion list the way a person does: a click elsewhere in the dialog. */
export async function closeCompletions(page: Page): Promise<void> {
  const menu = page.locator('.red-ui-autoComplete-container');
  if (await menu.isVisible()) {
    await page.click('.red-ui-tray-titlebar');
    await menu.waitFor({ state: 'hidden' });
  }
}

/** Whether a dialog field is marked invalid (Node-RED's input-error class). */
export async function invalid(page: Page, input: string): Promise<boolean> {
  return page.locator(input).evaluate((el) => el.classList.contains('input-error'));
}

/** The reason Node-RED shows for an invalid field: the tooltip that appears on hovering it. */
export async function invalidReason(page: Page, input: string): Promise<string> {
  await closeCompletions(page);
  await page.hover(input);
  // Node-RED mirrors the shown tooltip's text to the field's aria-label.
  await page.locator(`${input}[aria-label]`).waitFor();
  const text = (await page.locator(input).getAttribute('aria-label')) ?? '';
  await page.mouse.move(5, 5);
  return text;
}

/** The status text the editor shows under a deployed node. */
export async function nodeStatus(page: Page, id: string): Promise<string> {
  return (await page.locator(`[id="${id}"] .red-ui-flow-node-status-label`).textContent())?.trim() ?? '';
}

/**
 * What the page did wrong beyond the login itself: before logging in the editor asks for its
 * settings and gets 401 (that is how it learns to show the login form), which Chromium also
 * logs as a console error. Everything else counts.
 */
export function unexpectedProblems(p: PageProblems): string[] {
  const preLogin401 = (s: string) => /^401 GET .*\/editor\/settings(\?_=\d+)?$/.test(s);
  const allowed = p.badResponses.filter(preLogin401).length;
  let console401 = 0;
  // Chromium logs each failed request once as "Failed to load resource: ... 401 (Unauthorized)".
  const consoleFor401 = (s: string) => /status of 401 \(Unauthorized\)/.test(s) && ++console401 <= allowed;
  return [...p.badResponses.filter((s) => !preLogin401(s)), ...p.consoleErrors.filter((s) => !consoleFor401(s)), ...p.pageErrors];
}
