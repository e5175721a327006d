// Helpers shared by the sqlite outbox tests: a temp dir per test, an outbox with test
// defaults that records its events, and polling for asynchronous conditions.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLog } from '../../../runtime/log.ts';
import type { WaysideEvent } from '../../../runtime/types.ts';
import { openOutbox, type OutboxOptions, type SqliteOutbox } from '../../../runtime/outbox/sqlite.ts';

export interface TestBox {
  box: SqliteOutbox;
  events: WaysideEvent[];
  path: string;
}

export function tempDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'wayside-outbox-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function openTestBox(dir: string, opts: Partial<OutboxOptions> = {}, now?: () => number): TestBox {
  const events: WaysideEvent[] = [];
  const path = opts.path ?? join(dir, 'outbox.db');
  const box = openOutbox(
    { path, maxBytes: 64 << 20, maxAgeMs: 86_400_000, retryIntervalMs: 50, ...opts },
    { log: silentLog(), now, onEvent: (e) => events.push(e) },
  );
  return { box, events, path };
}

export async function until(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Settle state of a promise without awaiting it: 'pending' | 'resolved' | Error. */
export function track(p: Promise<void>): { state: 'pending' | 'resolved' | Error } {
  const s: { state: 'pending' | 'resolved' | Error } = { state: 'pending' };
  p.then(() => { s.state = 'resolved'; }, (e: Error) => { s.state = e; });
  return s;
}
