// Typed errors of the Modbus driver. Callers branch on `kind` (what the device monitor counts)
// and the message always names device, unit id, function and register range, so one log line
// or health entry is enough to find the cause in the field.
import type { FaultKind } from '../common/device-monitor.ts';

export const EXCEPTION_NAMES: Record<number, string> = {
  1: 'ILLEGAL FUNCTION',
  2: 'ILLEGAL DATA ADDRESS',
  3: 'ILLEGAL DATA VALUE',
  4: 'SERVER DEVICE FAILURE',
  5: 'ACKNOWLEDGE',
  6: 'SERVER DEVICE BUSY',
  8: 'MEMORY PARITY ERROR',
  10: 'GATEWAY PATH UNAVAILABLE',
  11: 'GATEWAY TARGET DEVICE FAILED TO RESPOND',
};

export function exceptionName(code: number): string {
  return EXCEPTION_NAMES[code] ?? `UNKNOWN EXCEPTION ${code}`;
}

/** Where an exchange went wrong: enough to find the register map line responsible. */
export interface ExchangeContext {
  device?: string;
  unitId: number;
  fn: number;
  address: number;
  count: number;
}

const FN_NAMES: Record<number, string> = {
  1: 'read coils', 2: 'read discrete inputs', 3: 'read holding registers', 4: 'read input registers',
  5: 'write single coil', 6: 'write single register', 15: 'write multiple coils', 16: 'write multiple registers',
};

export function describeExchange(c: ExchangeContext): string {
  const what = c.fn === 1 || c.fn === 2 || c.fn === 5 || c.fn === 15 ? 'bits' : 'registers';
  const range = c.count > 1 ? `${c.address}..${c.address + c.count - 1} (${c.count} ${what})` : `${c.address}`;
  const dev = c.device ? `device "${c.device}" ` : '';
  return `${dev}unit ${c.unitId} fc${String(c.fn).padStart(2, '0')} ${FN_NAMES[c.fn] ?? 'function'} ${range}`;
}

/** One failed exchange with a device. `kind` is what the device monitor counts. */
export class ModbusError extends Error {
  readonly kind: FaultKind;
  readonly ctx: ExchangeContext;
  /** Modbus exception code when kind === 'exception'. */
  readonly exceptionCode?: number;
  constructor(kind: FaultKind, ctx: ExchangeContext, detail: string, exceptionCode?: number) {
    super(`${describeExchange(ctx)}: ${detail}`);
    this.name = 'ModbusError';
    this.kind = kind;
    this.ctx = ctx;
    this.exceptionCode = exceptionCode;
  }

  /** The same error attributed to a device (links do not know device ids). */
  forDevice(device: string): ModbusError {
    if (this.ctx.device) return this;
    const detail = this.message.slice(describeExchange(this.ctx).length + 2);
    const e = new ModbusError(this.kind, { ...this.ctx, device }, detail, this.exceptionCode);
    return e;
  }
}

/** A rejected write: bad value, unknown or read-only point. Nothing was sent to the device. */
export class ModbusWriteError extends Error {
  readonly device: string;
  readonly point: string;
  constructor(device: string, point: string, message: string) {
    super(`modbus device "${device}" point "${point}": ${message}`);
    this.name = 'ModbusWriteError';
    this.device = device;
    this.point = point;
  }
}

/** A device whose configuration (after merging its profile) cannot work. */
export class ModbusConfigError extends Error {
  readonly device: string;
  constructor(device: string, message: string) {
    super(`modbus device "${device}": ${message}`);
    this.name = 'ModbusConfigError';
    this.device = device;
  }
}
