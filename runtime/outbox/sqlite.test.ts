// The sqlite outbox runs the shared Outbox contract suite; and its files are private.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { silentLog } from '../log.ts';
import { outboxSuite } from '../../test/support/outbox/abstract-suite.ts';
import { openOutbox } from './index.ts';

outboxSuite('sqlite', (dir) =>
  openOutbox({ path: join(dir, 'outbox.db'), maxBytes: 64 << 20, maxAgeMs: 86_400_000 }, { log: silentLog() }),
);

describe('files', () => {
  it('creates the database 0600 in a 0700 directory (the records are the gateway data)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wayside-outbox-mode-'));
    try {
      const path = join(dir, 'state/sub/outbox.db');
      const box = openOutbox({ path, maxBytes: 1 << 20, maxAgeMs: 86_400_000, reserveBytes: 0 }, { log: silentLog() });
      await box.append([{ id: 'a', kind: 'event', ts: Date.now(), body: { id: 'a', type: 't', severity: 'info', ts: Date.now(), data: {} } }]);
      expect(statSync(path).mode & 0o777).toBe(0o600);
      expect(statSync(`${path}-wal`).mode & 0o777).toBe(0o600);
      expect(statSync(join(dir, 'state/sub')).mode & 0o777).toBe(0o700);
      await box.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
