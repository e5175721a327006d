// kill -9 durability: a child appends in a loop and prints each range once append() resolved;
// after ~1 s it is killed with SIGKILL, and every range it called durable must be in the file.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { tempDir } from '../../test/support/outbox/testkit.ts';

const here = fileURLToPath(new URL('.', import.meta.url));
const FIXTURE = join(here, '../../test/support/outbox/kill-writer.ts');

let tmp: ReturnType<typeof tempDir>;
beforeEach(() => { tmp = tempDir(); });
afterEach(() => tmp.cleanup());

/** Run the writer, SIGKILL it ~1 s after its first durable append; returns the ranges it reported. */
function runAndKill(path: string, tag: string): Promise<[number, number][]> {
  return new Promise((resolve, reject) => {
    // Node 24 runs the TypeScript fixture as is; its own process group is killed, so nothing survives.
    const child = spawn(process.execPath, [FIXTURE, path, tag], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let timer: NodeJS.Timeout | undefined;
    const guard = setTimeout(() => { process.kill(-child.pid!, 'SIGKILL'); reject(new Error(`writer never reported: ${err}`)); }, 20_000);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      timer ??= setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), 1_000);
    });
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    child.on('close', (code, signal) => {
      clearTimeout(guard);
      if (signal !== 'SIGKILL') return reject(new Error(`writer exited on its own (${code}): ${err}`));
      // A line cut by the kill was never fully reported: ignore the unterminated tail.
      const lines = out.split('\n').slice(0, -1);
      resolve(lines.map((l) => l.split(' ').map(Number) as [number, number]));
    });
  });
}

it('every append reported durable survives kill -9, over 3 rounds on the same file', async () => {
  const path = join(tmp.dir, 'outbox.db');
  let lastMaxSeq = 0;
  for (const tag of ['a', 'b', 'c']) {
    const ranges = await runAndKill(path, tag);
    expect(ranges.length).toBeGreaterThan(10);
    const db = new DatabaseSync(path);
    try {
      const rows = db.prepare('SELECT seq, id FROM outbox WHERE id LIKE ? ORDER BY seq').all(`${tag}-%`) as { seq: number; id: string }[];
      const ids = new Set(rows.map((r) => r.id));
      let missing = 0;
      for (const [first, last] of ranges) for (let n = first; n <= last; n++) if (!ids.has(`${tag}-${n}`)) missing++;
      expect(missing).toBe(0);
      // seq keeps increasing across crashes and restarts
      expect(rows[0].seq).toBeGreaterThan(lastMaxSeq);
      lastMaxSeq = rows[rows.length - 1].seq;
      expect(db.prepare('PRAGMA integrity_check').get()).toEqual({ integrity_check: 'ok' });
    } finally {
      db.close();
    }
  }
}, 60_000);
