// A bus-side responder for tests where two protocols share one RS-485 line: it opens the device
// side of the pty pair the agent polls, splits what the master sends into frames, and hands each
// frame to the device that would take it on a real bus (DL/T 645 frames to the meters, Modbus RTU
// frames to the Modbus server) over their own pty pairs, copying every reply back onto the line.
// The devices behind it are real: modbus-serial's ServerSerial and the DL/T 645 simulator.
import { SerialPort } from 'serialport';
import { startPtyPair, type PtyPair } from '../../helpers/socat.ts';

export interface Rs485Router {
  /** Device-side paths: open a Modbus RTU server on `modbus`, the meter simulator on `dlt645`. */
  modbus: string;
  dlt645: string;
  /** Frames routed to each protocol so far. */
  routed: { modbus: number; dlt645: number; dropped: number };
  close(): Promise<void>;
}

/** Length of a Modbus RTU request from its function code, or undefined until it is known. */
function modbusRequestLength(b: Buffer): number | undefined {
  if (b.length < 2) return undefined;
  const fn = b[1];
  if (fn >= 1 && fn <= 6) return 8;
  if (fn === 15 || fn === 16) return b.length < 7 ? undefined : 9 + b[6];
  return -1;
}

/** Length of a DL/T 645 frame (FE preamble, 68 A0..A5 68 C L DATA CS 16), or undefined. */
function dltFrameLength(b: Buffer): number | undefined {
  let p = 0;
  while (p < b.length && b[p] === 0xfe) p++;
  if (b.length < p + 10) return undefined;
  return p + 12 + b[p + 9];
}

const open = (path: string, baudRate: number) =>
  new Promise<SerialPort>((resolve, reject) => {
    const port = new SerialPort({ path, baudRate, autoOpen: false });
    port.open((err) => (err ? reject(err) : resolve(port)));
  });

export async function startRs485Router(line: string, baudRate: number): Promise<Rs485Router> {
  const [mb, dl] = [await startPtyPair(), await startPtyPair()] as PtyPair[];
  const [bus, toModbus, toDlt] = await Promise.all([open(line, baudRate), open(mb.a, baudRate), open(dl.a, baudRate)]);
  const routed = { modbus: 0, dlt645: 0, dropped: 0 };
  let buf = Buffer.alloc(0);
  bus.on('data', (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    for (;;) {
      const dlt = buf[0] === 0xfe || buf[0] === 0x68;
      const len = dlt ? dltFrameLength(buf) : modbusRequestLength(buf);
      if (len === undefined || buf.length < len) return;
      if (len < 0) {
        routed.dropped += buf.length; // an unknown function: a real bus would carry it to nobody
        buf = Buffer.alloc(0);
        return;
      }
      const frame = buf.subarray(0, len);
      buf = buf.subarray(len);
      if (dlt) routed.dlt645++;
      else routed.modbus++;
      (dlt ? toDlt : toModbus).write(frame);
    }
  });
  toModbus.on('data', (c: Buffer) => bus.write(c));
  toDlt.on('data', (c: Buffer) => bus.write(c));
  const close = (p: SerialPort) => new Promise<void>((r) => (p.isOpen ? p.close(() => r()) : r()));
  return {
    modbus: mb.b,
    dlt645: dl.b,
    routed,
    async close() {
      await Promise.all([bus, toModbus, toDlt].map(close));
      await Promise.all([mb.stop(), dl.stop()]);
    },
  };
}
