// Realistic records for uplink tests and the benchmark (~170-220 bytes of JSON each).
import { join } from 'node:path';
import type { Log, Outbox, OutRecord, RecordKind } from '../../../runtime/types.ts';
import { createIdGen } from '../../../runtime/ids.ts';
import { openOutbox } from '../../../runtime/outbox/index.ts';

const TYPES = ['alarm', 'motion', 'fault', 'door'] as const;

export function recordFactory(): (kind?: RecordKind) => OutRecord {
  const newId = createIdGen();
  let n = 0;
  return (kind = 'event') => {
    n++;
    const ts = Date.now();
    const id = newId(ts);
    if (kind === 'event') {
      return { id, kind, ts, body: { id, type: TYPES[n % 4], device: `meter-${n % 16}`, severity: 'warning', ts, data: { zone: n % 4 } } };
    }
    if (kind === 'reading') {
      return { id, kind, ts, body: { device: `pm-${n % 8}`, point: 'pm2_5', value: n % 300, unit: 'ug/m3', quality: 'good', ts } };
    }
    return { id, kind, ts, body: { device: `meter-${n % 16}`, point: 'power', unit: 'W', start: ts - 60_000, end: ts, count: 60, min: 1, max: 9, mean: 5, last: 4, bad: 0 } };
  };
}

/** The real SQLite outbox (runtime/outbox) with the options the agent uses by default. */
export function openTestOutbox(dir: string, log: Log): Outbox {
  return openOutbox(
    { path: join(dir, 'outbox.db'), maxBytes: 256 * 2 ** 20, maxAgeMs: 7 * 86400e3, whenFull: 'drop-oldest', commitIntervalMs: 5, memoryMaxBytes: 16 * 2 ** 20 },
    { log },
  );
}
