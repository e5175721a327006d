// The shipped example flows in the editor's Import → Examples menu (Node-RED lists a node
// module's examples/ folder: flows/nodes/examples is flows/examples), driven in real Chromium:
// every example is listed, one is imported from the menu and deployed, and the sim pole's
// readings appear in the debug sidebar. Fails on any console error, page error or HTTP error
// (beyond the 401 that makes the editor show its login form). Screenshots: test-artifacts/.
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { screenshot } from './support/browser/index.ts';
import { login, nodeStatus, startEditorSession, unexpectedProblems, type EditorSession } from './support/flows/editor-browser.ts';

const EXAMPLES = readdirSync(path.join(import.meta.dirname, '../flows/examples')).filter((f) => f.endsWith('.json')).map((f) => f.replace(/\.json$/, '')).sort();

let s: EditorSession;
// The editor can be slow on a loaded machine: wait generously for what it shows.
const poll = <T>(fn: () => T | Promise<T>) => expect.poll(fn, { timeout: 20_000 });
beforeAll(async () => {
  s = await startEditorSession();
  await login(s);
});
afterAll(async () => {
  await s?.close();
});

describe('example flows in the editor (Chromium)', () => {
  it('lists every example under Import → Examples, imports one and deploys it; readings reach the debug sidebar', async () => {
    const { page } = s;
    await page.click('#red-ui-header-button-sidemenu');
    await page.click('#menu-item-import');
    const dialog = page.locator('.red-ui-editor-dialog:has(#red-ui-clipboard-dialog-import-tabs)');
    await dialog.locator('#red-ui-clipboard-dialog-import-tabs a', { hasText: 'Examples' }).click();
    const tree = dialog.locator('#red-ui-clipboard-dialog-import-tab-examples');
    await tree.locator('.red-ui-treeList-label', { hasText: '@wayside/node-red-nodes' }).click();
    await poll(() => tree.innerText()).toContain('device-readings');
    // The tree: Examples > flows > node-red (Node-RED's own, folded) and @wayside/node-red-nodes (opened).
    const folders = ['Examples', 'flows', 'node-red', '@wayside/node-red-nodes'];
    const listed = (await tree.innerText()).split('\n').map((l) => l.trim()).filter((l) => l !== '' && !folders.includes(l)).sort();
    expect(listed).toEqual(EXAMPLES);
    await tree.getByText(EXAMPLES.at(-1)!, { exact: true }).waitFor({ state: 'visible' });
    await screenshot(page, 'flows-editor-examples-menu');

    await tree.locator('.red-ui-treeList-label', { hasText: /^device-readings$/ }).click();
    await page.click('#red-ui-clipboard-dialog-ok');
    // Node-RED places imported nodes under the mouse: a click drops them.
    await page.mouse.click(500, 300);
    await page.click('#red-ui-header-button-deploy');
    await poll(() => s.f.agent.health().flows?.nodes).toBe(2);

    // The debug sidebar (shown beside the workspace): readings of pole-sim, their point as the topic.
    const list = page.locator('.red-ui-debug-content-list');
    await poll(() => list.isVisible()).toBe(true);
    await poll(() => list.locator('.red-ui-debug-msg').count()).toBeGreaterThan(3);
    const text = await list.innerText();
    expect(text).toMatch(/pole-sim\/pm25/);
    expect(text).toMatch(/msg\.payload : number/);
    // On the imported tab: wayside in counts what it sent, the debug node shows the latest value.
    await page.locator('.red-ui-tab', { hasText: 'Readings:' }).click();
    await poll(() => nodeStatus(page, 'see.in')).toMatch(/^\d+ msgs$/);
    await poll(() => nodeStatus(page, 'see.debug')).toMatch(/^\d+(\.\d+)?$/);
    await screenshot(page, 'flows-editor-example-deployed');
    expect(unexpectedProblems(s.problems)).toEqual([]);
  });
});
