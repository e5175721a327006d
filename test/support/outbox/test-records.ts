// Realistic outbox records for tests and the store benchmark: window summaries of
// meter points (~200 bytes of JSON each), with sortable unique ids.
import { createIdGen } from '../../../runtime/ids.ts';
import type { OutRecord, Summary } from '../../../runtime/types.ts';

// Same-length names and value widths: every record has the same size, so cap tests can count.
const POINTS = ['voltage_a', 'voltage_b', 'voltage_c', 'current_a', 'current_b', 'current_c'];

export interface RecordMaker {
  (ts?: number): OutRecord;
}

/** Each maker has its own id generator so parallel fixtures never share state. */
export function recordMaker(device = 'meter-3'): RecordMaker {
  const id = createIdGen();
  let n = 0;
  return (ts = Date.now()) => {
    const i = n++;
    const point = POINTS[i % POINTS.length];
    const base = 200 + (i % 37);
    const body: Summary = {
      device, point, unit: i % 6 < 3 ? 'V' : 'A', start: ts - 60_000, end: ts,
      count: 60, min: base - 1.25, max: base + 2.5, mean: base + 0.125, last: base, bad: i % 3,
    };
    return { id: id(ts), kind: 'summary', ts, body };
  };
}

export function makeRecords(make: RecordMaker, n: number, ts?: number): OutRecord[] {
  const out: OutRecord[] = [];
  for (let i = 0; i < n; i++) out.push(make(ts));
  return out;
}

export function recordBytes(r: OutRecord): number {
  return Buffer.byteLength(JSON.stringify(r));
}
