// The sqlite outbox runs the shared Outbox contract suite.
import { join } from 'node:path';
import { silentLog } from '../log.ts';
import { outboxSuite } from '../../test/support/outbox/abstract-suite.ts';
import { openOutbox } from './index.ts';

outboxSuite('sqlite', (dir) =>
  openOutbox({ path: join(dir, 'outbox.db'), maxBytes: 64 << 20, maxAgeMs: 86_400_000 }, { log: silentLog() }),
);
