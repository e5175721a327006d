// Coalescing: the points of one device are read in the fewest requests. Points of one table
// (function code) sorted by address are merged greedily while the merged span fits the
// per-request limit and the hole between them is at most maxGap; tables never mix.
// Greedy left-to-right is optimal for covering sorted intervals under a length cap.
import { isBitTable, pointWidth, type Table } from './codec.ts';
import { FC } from './frame.ts';
import type { ModbusPoint } from './point-schema.ts';

export interface ReadBlock {
  table: Table;
  fn: number;
  address: number;
  count: number;
  points: ModbusPoint[];
}

export interface PlanLimits {
  /** Registers per request, 1..125. */
  maxRegisters: number;
  /** Bits per request, 1..2000. */
  maxBits: number;
  /** Unused registers bridged between two points to merge their reads (x16 for bits). */
  maxGap: number;
}

export const READ_FN: Record<Table, number> = {
  coil: FC.readCoils,
  discrete: FC.readDiscreteInputs,
  holding: FC.readHoldingRegisters,
  input: FC.readInputRegisters,
};

/** Throws an Error naming the point when one point alone exceeds the per-request limit. */
export function planReads(points: readonly ModbusPoint[], limits: PlanLimits): ReadBlock[] {
  const blocks: ReadBlock[] = [];
  for (const table of ['coil', 'discrete', 'holding', 'input'] as const) {
    const bits = isBitTable(table);
    const max = bits ? limits.maxBits : limits.maxRegisters;
    // Bridging a gap costs bytes on the wire: a register's 2 bytes carry 16 bits.
    const gap = bits ? limits.maxGap * 16 : limits.maxGap;
    const spans = points
      .filter((p) => p.table === table)
      .map((p) => ({ p, start: p.address, end: p.address + pointWidth(p) }))
      .sort((a, b) => a.start - b.start || a.end - b.end);
    let cur: ReadBlock | undefined;
    let curEnd = 0;
    for (const s of spans) {
      if (s.end - s.start > max) {
        throw new Error(`point "${s.p.name}" spans ${s.end - s.start} registers, more than the ${max} per request this device allows (maxRegistersPerRequest)`);
      }
      const end = Math.max(curEnd, s.end);
      if (cur && s.start - curEnd <= gap && end - cur.address <= max) {
        cur.points.push(s.p);
        curEnd = end;
        cur.count = end - cur.address;
        continue;
      }
      cur = { table, fn: READ_FN[table], address: s.start, count: s.end - s.start, points: [s.p] };
      curEnd = s.end;
      blocks.push(cur);
    }
  }
  return blocks;
}
