import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { waitFor } from '../test/helpers/wait.ts';
import { portHolders } from './ports.ts';

const kids: ReturnType<typeof spawn>[] = [];
afterEach(() => kids.splice(0).forEach((k) => k.kill('SIGKILL')));

test('portHolders finds a process holding a file open, through a symlink, and not after it ends', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ports-'));
  const file = path.join(dir, 'node');
  fs.writeFileSync(file, '');
  fs.symlinkSync(file, path.join(dir, 'link'));
  const kid = spawn('sh', ['-c', `exec 3<"${file}"; sleep 30`], { stdio: 'ignore' });
  kids.push(kid);
  const holders = await waitFor(() => {
    const h = portHolders(path.join(dir, 'link'));
    return h.length ? h : undefined;
  });
  expect(holders.map((h) => h.pid)).toContain(kid.pid);
  expect(holders.find((h) => h.pid === kid.pid)!.cmdline).toContain('sleep');
  kid.kill('SIGKILL');
  await waitFor(() => !portHolders(file).some((h) => h.pid === kid.pid));
  expect(portHolders(path.join(dir, 'missing'))).toEqual([]);
});
