// A multi-drop RS-485 line for scanner tests: the master (the scanner) opens `line`; each device
// (a real modbus-serial ServerSerial, one unit id each) opens its own `drops[i]`. What the master
// sends reaches every device, and what a device answers reaches the master, but only where the
// two sides' line speeds agree, as on a real bus: a UART at another speed receives garbage, not
// the frame. The speeds are read from the ptys themselves (`stty -F <pty> speed`, the termios the
// scanner's and the device's serial ports set), so nothing tells this bus what the scanner tried.
// Each device must have opened its drop before the first byte is sent (its speed is read then).
// Linux ptys clear PARENB in their termios, so parity cannot be observed here: only speed is.
import { execFile } from 'node:child_process';
import { SerialPort } from 'serialport';
import { startPtyPair, type PtyPair } from '../../helpers/socat.ts';

export interface Multidrop {
  /** The master's port (the path to scan). */
  line: string;
  /** Device-side paths, one per drop. */
  drops: string[];
  /** Frames each drop received intact / garbled (speed mismatch). */
  stats: { intact: number[]; garbled: number[]; replies: number[] };
  close(): Promise<void>;
}

const open = (path: string) =>
  new Promise<SerialPort>((resolve, reject) => {
    const port = new SerialPort({ path, baudRate: 9600, autoOpen: false, lock: false });
    port.open((err) => (err ? reject(err) : resolve(port)));
  });

/** The line speed a pty's termios holds (NaN when it cannot be read). */
function speed(path: string): Promise<number> {
  return new Promise((resolve) => execFile('stty', ['-F', path, 'speed'], (_err, stdout) => resolve(Number(String(stdout).trim()) || NaN)));
}

/**
 * What a UART at the wrong speed makes of a frame: fewer bytes, none of them the frame's (the
 * idle-high line read as 0xFF with framing errors). 0xFF is no unit id a test server serves.
 */
const garble = (b: Buffer) => Buffer.alloc(Math.max(1, b.length >> 1), 0xff);

export async function startMultidrop(devices: number): Promise<Multidrop> {
  const master = await startPtyPair();
  const pairs: PtyPair[] = [];
  for (let i = 0; i < devices; i++) pairs.push(await startPtyPair());
  const lineSide = await open(master.b);
  const dropSides = await Promise.all(pairs.map((p) => open(p.a)));
  const stats = { intact: pairs.map(() => 0), garbled: pairs.map(() => 0), replies: pairs.map(() => 0) };
  // A device's speed is read once (it keeps it); the master's for every chunk, since the scanner
  // reopens its port at each setting.
  const dropSpeeds: number[] = [];
  let last: number[] = [];
  // Chunks are handled one after another, each with the speeds current when it arrived.
  let chain = Promise.resolve();
  lineSide.on('data', (chunk: Buffer) => {
    chain = chain.then(async () => {
      const m = await speed(master.a);
      for (let i = 0; i < pairs.length; i++) if (!Number.isFinite(dropSpeeds[i])) dropSpeeds[i] = await speed(pairs[i].b);
      last = [m, ...dropSpeeds];
      dropSides.forEach((port, i) => {
        const same = m === dropSpeeds[i] && Number.isFinite(m);
        if (same) stats.intact[i]++;
        else stats.garbled[i]++;
        port.write(same ? chunk : garble(chunk));
      });
    });
  });
  dropSides.forEach((port, i) =>
    port.on('data', (chunk: Buffer) => {
      stats.replies[i]++;
      const same = last[0] === last[i + 1];
      lineSide.write(same ? chunk : garble(chunk));
    }),
  );
  const close = (p: SerialPort) => new Promise<void>((r) => (p.isOpen ? p.close(() => r()) : r()));
  return {
    line: master.a,
    drops: pairs.map((p) => p.b),
    stats,
    async close() {
      await chain;
      await Promise.all([lineSide, ...dropSides].map(close));
      await Promise.all([master, ...pairs].map((p) => p.stop()));
    },
  };
}
