// A real browser for page tests: Debian's chromium driven by playwright-core (installed by
// scripts/ensure-system-deps.sh and npm ci). Screenshots go to test-artifacts/ (kept by CI as
// artefacts, ignored by git). `watchPage` collects what a page test must fail on: console errors,
// uncaught page errors and any HTTP response >= 400.
import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = process.env.WAYSIDE_CHROMIUM ?? '/usr/bin/chromium';
export const ARTIFACTS = path.resolve(import.meta.dirname, '../../../test-artifacts');

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // Containers run tests as root with a small /dev/shm.
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
  });
}

/** What went wrong in a page while a test drove it. */
export interface PageProblems {
  consoleErrors: string[];
  pageErrors: string[];
  /** `404 GET http://…/x.js` */
  badResponses: string[];
  /** Bytes transferred for responses seen so far (content-length or body size). */
  bytes(): number;
}

export function watchPage(page: Page): PageProblems {
  const problems = { consoleErrors: [] as string[], pageErrors: [] as string[], badResponses: [] as string[] };
  let bytes = 0;
  page.on('console', (m) => {
    if (m.type() === 'error') problems.consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => problems.pageErrors.push(String(e)));
  page.on('response', (r) => {
    if (r.status() >= 400) problems.badResponses.push(`${r.status()} ${r.request().method()} ${r.url()}`);
    const len = Number(r.headers()['content-length']);
    if (Number.isFinite(len)) bytes += len;
    else void r.body().then((b) => (bytes += b.length), () => {});
  });
  return { ...problems, bytes: () => bytes };
}

/** Saves a full-page screenshot as test-artifacts/<name>.png and returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}
