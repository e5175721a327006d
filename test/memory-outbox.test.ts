// The in-memory outbox the uplink tests use runs the same Outbox contract suite as the SQLite
// store, so what the uplink tests prove holds for the real store too. Reopen = same data object.
import { createMemoryOutbox, type MemoryOutboxData } from './support/uplink/memory-outbox.ts';
import { outboxSuite } from './support/outbox/abstract-suite.ts';

const stores = new Map<string, MemoryOutboxData>();
outboxSuite('memory', (dir) => {
  const box = createMemoryOutbox({ data: stores.get(dir) });
  stores.set(dir, box.data);
  return box;
}, { durable: false });
