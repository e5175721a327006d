// One request/response at a time over a pipe, in RTU framing (serial, RTU over TCP) or MBAP
// framing (Modbus TCP). Every failure becomes a ModbusError of one kind: timeout (silence),
// crc (a frame with a wrong checksum), protocol (garbage, truncated or mismatched frames),
// exception (the device said no), io (port or connection down).
//
// The pipe belongs to the bus (drivers/common/bus.ts), which may carry other protocols too;
// the bus routes received bytes to `receiver` only while one of this link's exchanges runs.
import { BusCancelled, type Receiver } from '../common/bus.ts';
import type { FaultKind } from '../common/device-monitor.ts';
import type { Pipe } from '../common/pipes.ts';
import { ModbusError } from './errors.ts';
import { encodePdu, exchangeContext, mbapFrame, parseResponsePdu, rtuFrame, scanRtuResponse, type ModbusRequest } from './frame.ts';

export interface LinkStats {
  requests: number;
  /** Bytes thrown away while looking for a response frame (noise, echoes, late replies). */
  garbageBytes: number;
  crcErrors: number;
  /** Responses that arrived after their request had timed out (MBAP transaction id mismatch). */
  staleFrames: number;
  opens: number;
}

export interface Link {
  readonly kind: 'rtu' | 'mbap';
  /** Silence to keep after each exchange before the next frame (RTU inter-frame delay). */
  readonly frameDelayMs: number;
  /** Send one request and wait for its response; the data bytes of a read, empty for a write. */
  exchange(req: ModbusRequest, timeoutMs: number): Promise<Buffer>;
  /** Where the bus sends the bytes received during this link's exchanges. */
  readonly receiver: Receiver;
  stats(): LinkStats;
}

interface Pending {
  req: ModbusRequest;
  done(err: ModbusError | undefined, data?: Buffer): void;
  /** MBAP transaction id. */
  tid: number;
}

function hex(b: Buffer, max = 16): string {
  return b.subarray(0, max).toString('hex').replace(/(..)/g, '$1 ').trim() + (b.length > max ? ' ...' : '');
}

/**
 * Shared skeleton: `onBytes` is the framing; it returns a PDU when the response is complete,
 * or nothing to keep waiting. `onTimeout` classifies a response that never completed.
 */
function createLink(
  kind: 'rtu' | 'mbap',
  frameDelayMs: number,
  pipe: Pipe,
  framing: {
    frame(req: ModbusRequest, tid: number): Buffer;
    /** Consume received bytes for `p`; return the response PDU, an error, or undefined to wait. */
    take(rx: Buffer, p: Pending, stats: LinkStats, armSettle: () => void): { pdu?: Buffer; err?: ModbusError; rest: Buffer; reset?: boolean };
    onTimeout(rx: Buffer, p: Pending, timeoutMs: number): ModbusError;
  },
): Link {
  const stats: LinkStats = { requests: 0, garbageBytes: 0, crcErrors: 0, staleFrames: 0, opens: 0 };
  let rx: Buffer = Buffer.alloc(0);
  let pending: Pending | undefined;
  let tid = 0;

  const settleMs = Math.max(20, frameDelayMs * 8);
  let settleTimer: NodeJS.Timeout | undefined;
  const armSettle = () => {
    clearTimeout(settleTimer);
    const p = pending;
    // A checksum error with the line gone quiet: the frame will not get better by waiting.
    settleTimer = setTimeout(() => {
      if (pending === p && p) {
        stats.crcErrors++;
        p.done(new ModbusError('crc', exchangeContext(p.req), `CRC error in response (received ${rx.length} bytes: ${hex(rx)})`));
      }
    }, settleMs);
  };

  const onData = (chunk: Buffer) => {
    if (!pending) {
      // Nobody asked: a late reply or line noise. Dropped, but counted.
      stats.garbageBytes += chunk.length;
      return;
    }
    rx = rx.length ? Buffer.concat([rx, chunk]) : chunk;
    const p = pending;
    const r = framing.take(rx, p, stats, armSettle);
    rx = r.rest;
    // A corrupt TCP stream cannot be resynchronised: drop the connection, the next exchange reconnects.
    if (r.reset) pipe.reset(r.err?.message ?? 'corrupt stream');
    if (r.err) p.done(r.err);
    else if (r.pdu) {
      let data: Buffer;
      try {
        data = parseResponsePdu(p.req, r.pdu);
      } catch (err) {
        // An exception reply or a mismatch is the device's answer; anything else is a parser
        // failure, which the bus turns into a protocol fault (onFault) and a clean framer.
        if (err instanceof ModbusError) return p.done(err);
        throw err;
      }
      p.done(undefined, data);
    }
  };
  const onDown = (err: Error) => {
    const p = pending;
    if (p) p.done(new ModbusError('io', exchangeContext(p.req), err instanceof BusCancelled ? `cancelled: ${err.message}` : err.message));
  };
  // The framer threw on a reply: start clean and fail the exchange as a protocol fault.
  const onFault = (err: Error) => {
    const p = pending;
    rx = Buffer.alloc(0);
    if (kind === 'mbap') pipe.reset('framer failed');
    if (p) p.done(new ModbusError('protocol', exchangeContext(p.req), `reply could not be parsed: ${err.message}`));
  };

  return {
    kind,
    frameDelayMs,
    async exchange(req, timeoutMs) {
      if (pending) throw new Error('modbus link: exchange while another is in flight (the port queue must serialise)');
      const ctx = exchangeContext(req);
      const t0 = performance.now();
      try {
        await pipe.ensureOpen(timeoutMs);
      } catch (err) {
        throw new ModbusError('io', ctx, (err as Error).message);
      }
      stats.requests++;
      stats.opens = pipe.opens();
      tid = (tid + 1) & 0xffff;
      const left = Math.max(1, timeoutMs - (performance.now() - t0));
      return new Promise<Buffer>((resolve, reject) => {
        let timer: NodeJS.Timeout | undefined;
        const p: Pending = {
          req,
          tid,
          done(err, data) {
            if (pending !== p) return;
            pending = undefined;
            clearTimeout(timer);
            clearTimeout(settleTimer);
            if (rx.length) stats.garbageBytes += rx.length;
            rx = Buffer.alloc(0);
            if (err) reject(err);
            else resolve(data!);
          },
        };
        rx = Buffer.alloc(0);
        pending = p;
        timer = setTimeout(() => {
          const e = framing.onTimeout(rx, p, timeoutMs);
          if (e.kind === 'crc') stats.crcErrors++;
          if (e.kind === 'protocol' && kind === 'mbap' && rx.length) pipe.reset('incomplete MBAP frame at timeout');
          p.done(e);
        }, left);
        pipe.write(framing.frame(req, tid)).catch((err: Error) => p.done(new ModbusError('io', ctx, `write failed: ${err.message}`)));
      });
    },
    receiver: { onData, onDown, onFault },
    stats: () => ({ ...stats, opens: pipe.opens() }),
  };
}

export function createRtuLink(frameDelayMs: number, pipe: Pipe): Link {
  return createLink('rtu', frameDelayMs, pipe, {
    frame: (req) => rtuFrame(req.unitId, encodePdu(req)),
    take(rx, p, stats, armSettle) {
      const scan = scanRtuResponse(rx, p.req);
      if (scan.pdu) {
        stats.garbageBytes += scan.skipped;
        return { pdu: scan.pdu, rest: Buffer.alloc(0) };
      }
      if (scan.crcBad && !scan.pending) armSettle();
      if (rx.length > 512) return { err: new ModbusError('protocol', exchangeContext(p.req), `no valid response in ${rx.length} bytes: ${hex(rx)}`), rest: rx };
      return { rest: rx };
    },
    onTimeout(rx, p, timeoutMs) {
      const ctx = exchangeContext(p.req);
      if (!rx.length) return new ModbusError('timeout', ctx, `no response within ${timeoutMs} ms`);
      const scan = scanRtuResponse(rx, p.req);
      let kind: FaultKind = 'protocol';
      let what = 'no valid response frame';
      if (scan.crcBad) [kind, what] = ['crc', 'CRC error in response'];
      else if (scan.pending) what = 'truncated response';
      return new ModbusError(kind, ctx, `${what} within ${timeoutMs} ms (received ${rx.length} bytes: ${hex(rx)})`);
    },
  });
}

export function createMbapLink(pipe: Pipe): Link {
  return createLink('mbap', 0, pipe, {
    frame: (req, tid) => mbapFrame(tid, req.unitId, encodePdu(req)),
    take(rx, p, stats) {
      let buf = rx;
      while (buf.length >= 7) {
        const proto = buf.readUInt16BE(2);
        const len = buf.readUInt16BE(4);
        if (proto !== 0 || len < 2 || len > 254) {
          return { err: new ModbusError('protocol', exchangeContext(p.req), `bad MBAP header (protocol ${proto}, length ${len}): ${hex(buf)}`), rest: Buffer.alloc(0), reset: true };
        }
        if (buf.length < 6 + len) break;
        const frame = buf.subarray(0, 6 + len);
        buf = buf.subarray(6 + len);
        if (frame.readUInt16BE(0) !== p.tid) {
          stats.staleFrames++;
          continue;
        }
        if (frame[6] !== p.req.unitId) {
          return { err: new ModbusError('protocol', exchangeContext(p.req), `response from unit ${frame[6]}`), rest: buf };
        }
        return { pdu: Buffer.from(frame.subarray(7)), rest: buf };
      }
      return { rest: buf };
    },
    onTimeout(rx, p, timeoutMs) {
      const ctx = exchangeContext(p.req);
      if (!rx.length) return new ModbusError('timeout', ctx, `no response within ${timeoutMs} ms`);
      return new ModbusError('protocol', ctx, `truncated response within ${timeoutMs} ms (received ${rx.length} bytes: ${hex(rx)})`);
    },
  });
}
