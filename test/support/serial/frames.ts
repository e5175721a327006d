// Builders of real sensor frames with correct checksums, written independently of the
// decoder (straight from the datasheets) so the tests check one against the other; plus a
// small simulator that writes them to the `b` side of a socat pty pair.
import { SerialPort } from 'serialport';

export interface Pms5003Values {
  pm1_0_std: number; pm2_5_std: number; pm10_std: number;
  pm1_0: number; pm2_5: number; pm10: number;
  n0_3: number; n0_5: number; n1_0: number; n2_5: number; n5_0: number; n10: number;
}

export const PMS_ORDER = ['pm1_0_std', 'pm2_5_std', 'pm10_std', 'pm1_0', 'pm2_5', 'pm10', 'n0_3', 'n0_5', 'n1_0', 'n2_5', 'n5_0', 'n10'] as const;

/** 42 4d, length 28, 13 big-endian words (the 13th reserved), 16-bit sum of bytes 0..29. */
export function pms5003Frame(v: Pms5003Values): Buffer {
  const b = Buffer.alloc(32);
  b[0] = 0x42;
  b[1] = 0x4d;
  b.writeUInt16BE(28, 2);
  PMS_ORDER.forEach((k, i) => b.writeUInt16BE(v[k], 4 + 2 * i));
  b.writeUInt16BE(0x9700, 28); // reserved: firmware version 0x97, error code 0
  let sum = 0;
  for (let i = 0; i < 30; i++) sum += b[i];
  b.writeUInt16BE(sum & 0xffff, 30);
  return b;
}

/** aa c0, PM2.5 and PM10 as little-endian tenths of µg/m³, 2-byte id, sum of bytes 2..7, ab. */
export function sds011Frame(pm25: number, pm10: number, id = 0xa1b2): Buffer {
  const b = Buffer.alloc(10);
  b[0] = 0xaa;
  b[1] = 0xc0;
  b.writeUInt16LE(Math.round(pm25 * 10), 2);
  b.writeUInt16LE(Math.round(pm10 * 10), 4);
  b.writeUInt16LE(id, 6);
  let sum = 0;
  for (let i = 2; i <= 7; i++) sum += b[i];
  b[8] = sum & 0xff;
  b[9] = 0xab;
  return b;
}

/** "$" + body + "*" + XOR checksum + CRLF. */
export function nmeaSentence(body: string): string {
  let x = 0;
  for (const c of body) x ^= c.charCodeAt(0);
  return `$${body}*${x.toString(16).toUpperCase().padStart(2, '0')}\r\n`;
}

/** Deterministic PRNG for fuzz tests: same seed, same bytes. */
export { createPrng as prng } from '../../../runtime/prng.ts';

/** The simulated device: opens the `b` side and writes what the test gives it. */
export interface Peer {
  write(data: Buffer | string): Promise<void>;
  close(): Promise<void>;
}

export function openPeer(path: string, baudRate = 9600): Promise<Peer> {
  return new Promise((resolve, reject) => {
    const p = new SerialPort({ path, baudRate }, (err) => {
      if (err) return reject(err);
      resolve({
        write: (data) => new Promise((res, rej) => p.write(data, (e) => (e ? rej(e) : p.drain((d) => (d ? rej(d) : res()))))),
        close: () => new Promise((res) => (p.isOpen ? p.close(() => res()) : res())),
      });
    });
    p.on('error', () => {}); // the pair vanishing under the simulator (unplug) is expected
  });
}
