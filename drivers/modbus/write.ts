// Turning a command's value into a Modbus write: checks (writable, type, range) with messages
// naming device, point and the allowed range, then the request that sets exactly the point's
// registers in its type and word order, as reads decode them.
import { decodeRegisters, encodeRegisters, pointWidth, reorder, toEngineering, typeRange, type Order } from './codec.ts';
import { ModbusWriteError } from './errors.ts';
import { FC, type ModbusRequest } from './frame.ts';
import type { ModbusPoint } from './point-schema.ts';

export interface WritePlan {
  /** The request, or for a bit inside a register, the bit to set by read-modify-write. */
  req?: ModbusRequest;
  rmw?: { address: number; bit: number; value: boolean; order: Order };
  /** The engineering value the device will hold (after rounding to the raw type). */
  stored: number | boolean | string;
}

function fmt(n: number): string {
  return Math.abs(n) >= 1e15 ? n.toExponential(6) : String(n);
}

export function planWrite(device: string, unitId: number, points: ReadonlyMap<string, ModbusPoint>, name: string, value: unknown): WritePlan {
  const p = points.get(name);
  const fail = (msg: string): never => {
    throw new ModbusWriteError(device, name, msg);
  };
  if (!p) {
    const writable = [...points.values()].filter((x) => x.writable).map((x) => x.name);
    return fail(`unknown point (writable points: ${writable.length ? writable.join(', ') : 'none'})`);
  }
  if (!p.writable) return fail(`read-only point (set writable: true or access: rw in the point map to allow writes)`);

  if (p.type === 'bool') {
    let v: boolean;
    if (typeof value === 'boolean') v = value;
    else if (value === 0 || value === 1) v = value === 1;
    else return fail(`expected true/false (or 1/0), got ${JSON.stringify(value)}`);
    if (p.table === 'coil') {
      return { req: { unitId, fn: FC.writeSingleCoil, address: p.address, count: 1, payload: Buffer.from([v ? 0xff : 0, 0]) }, stored: v };
    }
    if (p.bit !== undefined) return { rmw: { address: p.address, bit: p.bit, value: v, order: p.order }, stored: v };
    return { req: { unitId, fn: FC.writeSingleRegister, address: p.address, count: 1, payload: encodeRegisters(p, v) }, stored: v };
  }

  if (p.type === 'string') {
    if (typeof value !== 'string') return fail(`expected a string of at most ${pointWidth(p) * 2} characters, got ${JSON.stringify(value)}`);
  } else {
    if (typeof value !== 'number' || !Number.isFinite(value)) return fail(`expected a number, got ${JSON.stringify(value) ?? String(value)}`);
    const [tlo, thi] = typeRange(p)!;
    const lo = p.min ?? tlo;
    const hi = p.max ?? thi;
    if (value < lo || value > hi) {
      return fail(`${value}${p.unit ? ` ${p.unit}` : ''} is out of range: allowed ${fmt(lo)}..${fmt(hi)}${p.unit ? ` ${p.unit}` : ''}`);
    }
  }
  let bytes: Buffer;
  try {
    bytes = encodeRegisters(p, value as number | string);
  } catch (err) {
    return fail((err as Error).message);
  }
  const words = pointWidth(p);
  const req: ModbusRequest = words === 1
    ? { unitId, fn: FC.writeSingleRegister, address: p.address, count: 1, payload: bytes }
    : { unitId, fn: FC.writeMultipleRegisters, address: p.address, count: words, payload: bytes };
  const stored = toEngineering(p, decodeRegisters(p, bytes));
  return { req, stored: stored ?? (value as number) };
}

/** The write that sets or clears one bit of a register whose current wire bytes are `current`. */
export function rmwWrite(unitId: number, rmw: NonNullable<WritePlan['rmw']>, current: Buffer): ModbusRequest {
  // The bit index counts in the register as decoded, so undo and redo the byte order around it.
  const word = reorder(current, rmw.order, 1).readUInt16BE(0);
  const next = rmw.value ? word | (1 << rmw.bit) : word & ~(1 << rmw.bit) & 0xffff;
  const b = Buffer.alloc(2);
  b.writeUInt16BE(next, 0);
  return { unitId, fn: FC.writeSingleRegister, address: rmw.address, count: 1, payload: reorder(b, rmw.order, 1) };
}
