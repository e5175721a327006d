// Modbus protocol bytes: PDUs for the eight function codes the driver uses, RTU framing with
// CRC16 and a resynchronising response scanner, MBAP (TCP) headers. Pure functions; the
// transports in link-*.ts move the bytes.
import { exceptionName, ModbusError, type ExchangeContext } from './errors.ts';

export const FC = {
  readCoils: 1,
  readDiscreteInputs: 2,
  readHoldingRegisters: 3,
  readInputRegisters: 4,
  writeSingleCoil: 5,
  writeSingleRegister: 6,
  writeMultipleCoils: 15,
  writeMultipleRegisters: 16,
} as const;

/** One request to one unit. `payload` carries the values of write functions, already encoded. */
export interface ModbusRequest {
  unitId: number;
  fn: number;
  address: number;
  /** Bits or registers addressed (1 for single writes). */
  count: number;
  /** FC5/FC6: the 2 data bytes; FC15: packed bits; FC16: 2*count register bytes. */
  payload?: Buffer;
}

const CRC_TABLE = (() => {
  const t = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xa001 : c >>> 1;
    t[i] = c;
  }
  return t;
})();

/** Modbus CRC16 (poly 0xA001, init 0xFFFF); sent low byte first. */
export function crc16(buf: Uint8Array, start = 0, end = buf.length): number {
  let crc = 0xffff;
  for (let i = start; i < end; i++) crc = (crc >>> 8) ^ CRC_TABLE[(crc ^ buf[i]) & 0xff];
  return crc;
}

export function isBitFunction(fn: number): boolean {
  return fn === 1 || fn === 2 || fn === 5 || fn === 15;
}

export function encodePdu(req: ModbusRequest): Buffer {
  const { fn, address, count, payload } = req;
  switch (fn) {
    case 1: case 2: case 3: case 4: {
      const b = Buffer.alloc(5);
      b[0] = fn;
      b.writeUInt16BE(address, 1);
      b.writeUInt16BE(count, 3);
      return b;
    }
    case 5: case 6: {
      if (!payload || payload.length !== 2) throw new Error(`fc${fn} needs a 2-byte payload`);
      return Buffer.concat([Buffer.from([fn, address >> 8, address & 0xff]), payload]);
    }
    case 15: case 16: {
      if (!payload) throw new Error(`fc${fn} needs a payload`);
      const head = Buffer.alloc(6);
      head[0] = fn;
      head.writeUInt16BE(address, 1);
      head.writeUInt16BE(count, 3);
      head[5] = payload.length;
      return Buffer.concat([head, payload]);
    }
    default:
      throw new Error(`unsupported function code ${fn}`);
  }
}

/** Length of the normal (non-exception) response PDU to `req`. */
export function responsePduLength(req: ModbusRequest): number {
  switch (req.fn) {
    case 1: case 2: return 2 + Math.ceil(req.count / 8);
    case 3: case 4: return 2 + 2 * req.count;
    default: return 5;
  }
}

export function exchangeContext(req: ModbusRequest, device?: string): ExchangeContext {
  return { device, unitId: req.unitId, fn: req.fn, address: req.address, count: req.count };
}

/**
 * Checks a response PDU against its request; returns the data bytes of a read (registers
 * big-endian as sent, or packed bits) and an empty buffer for a write. Throws ModbusError.
 */
export function parseResponsePdu(req: ModbusRequest, pdu: Buffer): Buffer {
  const ctx = exchangeContext(req);
  if (pdu.length >= 2 && pdu[0] === (req.fn | 0x80)) {
    const code = pdu[1];
    throw new ModbusError('exception', ctx, `exception ${code} ${exceptionName(code)}`, code);
  }
  if (pdu[0] !== req.fn) throw new ModbusError('protocol', ctx, `response has function code ${pdu[0]}, expected ${req.fn}`);
  const expectLen = responsePduLength(req);
  if (pdu.length !== expectLen) throw new ModbusError('protocol', ctx, `response PDU is ${pdu.length} bytes, expected ${expectLen}`);
  if (req.fn <= 4) {
    if (pdu[1] !== expectLen - 2) throw new ModbusError('protocol', ctx, `response byte count ${pdu[1]}, expected ${expectLen - 2}`);
    return pdu.subarray(2);
  }
  // Writes echo the address and either the value (5, 6) or the count (15, 16).
  const echoed = pdu.readUInt16BE(1);
  if (echoed !== req.address) throw new ModbusError('protocol', ctx, `write response echoes address ${echoed}, expected ${req.address}`);
  const second = pdu.readUInt16BE(3);
  const want = req.fn === 5 || req.fn === 6 ? req.payload!.readUInt16BE(0) : req.count;
  if (second !== want) throw new ModbusError('protocol', ctx, `write response echoes ${second}, expected ${want}`);
  return Buffer.alloc(0);
}

export function rtuFrame(unitId: number, pdu: Buffer): Buffer {
  const out = Buffer.alloc(pdu.length + 3);
  out[0] = unitId;
  pdu.copy(out, 1);
  out.writeUInt16LE(crc16(out, 0, out.length - 2), out.length - 2);
  return out;
}

export interface RtuScan {
  /** The response PDU (function code onwards) when a valid frame was found. */
  pdu?: Buffer;
  /** Bytes before the frame that were not part of it (line noise, echoes, stale replies). */
  skipped: number;
  /** A frame with the right header and length but a wrong CRC was seen. */
  crcBad: boolean;
  /** A frame with the right header could still complete with more bytes. */
  pending: boolean;
}

/**
 * Finds the response to `req` in the bytes received since it was sent. Scans every offset, so
 * garbage before the frame (noise at power-up, a half frame from a previous timeout) is skipped
 * rather than failing the exchange.
 */
export function scanRtuResponse(buf: Buffer, req: ModbusRequest): RtuScan {
  const normal = 1 + responsePduLength(req) + 2;
  let crcBad = false;
  let pending = false;
  for (let i = 0; i + 1 < buf.length; i++) {
    if (buf[i] !== req.unitId) continue;
    const f = buf[i + 1];
    let len: number;
    if (f === (req.fn | 0x80)) len = 5;
    else if (f === req.fn) {
      len = normal;
      if (req.fn <= 4 && i + 2 < buf.length && buf[i + 2] !== normal - 5) continue;
    } else continue;
    if (buf.length - i < len) {
      pending = true;
      continue;
    }
    if (crc16(buf, i, i + len - 2) === buf.readUInt16LE(i + len - 2)) {
      return { pdu: Buffer.from(buf.subarray(i + 1, i + len - 2)), skipped: i, crcBad, pending: false };
    }
    crcBad = true;
  }
  return { skipped: 0, crcBad, pending };
}

export function mbapFrame(transactionId: number, unitId: number, pdu: Buffer): Buffer {
  const out = Buffer.alloc(7 + pdu.length);
  out.writeUInt16BE(transactionId, 0);
  out.writeUInt16BE(0, 2);
  out.writeUInt16BE(pdu.length + 1, 4);
  out[6] = unitId;
  pdu.copy(out, 7);
  return out;
}

/** Packs booleans LSB-first into bytes, as FC15 sends and FC1/2 return them. */
export function packBits(bits: readonly boolean[]): Buffer {
  const out = Buffer.alloc(Math.ceil(bits.length / 8));
  bits.forEach((b, i) => {
    if (b) out[i >> 3] |= 1 << (i & 7);
  });
  return out;
}

export function bitAt(data: Buffer, i: number): boolean {
  return ((data[i >> 3] >> (i & 7)) & 1) === 1;
}
