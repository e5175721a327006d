// The reopening serial line against real virtual ports (socat pty pair): data both ways, and
// an unplug/replug (socat killed and restarted) reopened on its own.
import { SerialPort } from 'serialport';
import { rmSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLog } from '../../runtime/log.ts';
import { startPtyPair, type PtyPair } from '../../test/helpers/socat.ts';
import { createSerialLine, type SerialLine } from './serial-line.ts';
import { until } from '../../test/helpers/wait.ts';

let pair: PtyPair | undefined;
let line: SerialLine | undefined;
afterEach(async () => {
  await line?.stop();
  await pair?.stop();
});

function openPeer(path: string): Promise<SerialPort> {
  return new Promise((resolve, reject) => {
    const p = new SerialPort({ path, baudRate: 9600 }, (err) => (err ? reject(err) : resolve(p)));
  });
}

describe('serial line', () => {
  it('exchanges bytes and reopens after an unplug', async () => {
    pair = await startPtyPair();
    const got: Buffer[] = [];
    let downs = 0;
    line = createSerialLine({ path: pair.a, baudRate: 9600, reopen: { minMs: 50, maxMs: 200 } }, { log: silentLog(), onData: (c) => got.push(c), onDown: () => downs++ });
    line.start();
    await until(() => line!.isOpen());
    let peer = await openPeer(pair.b);
    peer.write(Buffer.from('hello'));
    await until(() => Buffer.concat(got).toString() === 'hello');
    const back: Buffer[] = [];
    peer.on('data', (c: Buffer) => back.push(c));
    await line.write(Buffer.from('ping'));
    await until(() => Buffer.concat(back).toString() === 'ping');

    await pair.unplug();
    await until(() => downs > 0 && !line!.isOpen());
    await expect(line.write(Buffer.from('x'))).rejects.toThrow(/not open/);
    await pair.replug();
    await until(() => line!.isOpen() && line!.opens() === 2);
    peer = await openPeer(pair.b);
    got.length = 0;
    peer.write(Buffer.from('again'));
    await until(() => Buffer.concat(got).toString() === 'again');
    peer.close();
  });

  it('notices a device node that vanished while the port stayed open, and reopens when it is back', async () => {
    pair = await startPtyPair();
    const errors: string[] = [];
    line = createSerialLine({ path: pair.a, baudRate: 9600, reopen: { minMs: 50, maxMs: 200 } }, { log: silentLog(), onData: () => {}, onDown: (e) => errors.push(e.message) });
    line.start();
    await until(() => line!.isOpen());
    // The node goes, the pty behind it stays open: no close, no read error reaches the port.
    rmSync(pair.a);
    await until(() => !line!.isOpen(), 3000, 'the vanished node noticed');
    expect(errors[0]).toMatch(/vanished \(unplugged\)/);
    await pair.unplug();
    await pair.replug();
    await until(() => line!.isOpen() && line!.opens() === 2, 5000, 'reopened');
  });
});
