// A state directory that cannot be made is named by `check`, and making one never spins:
// Node's recursive mkdir loops forever under /proc (100% CPU, SIGTERM ignored).
import { existsSync, mkdtempSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createDriverRegistry } from '../drivers.ts';
import { ensureDir as mkdirs } from '../state.ts';
import { stateDirProblem } from './dirs.ts';
import { readConfig } from './loader.ts';

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'wayside-dirs-'));

describe('stateDirProblem', () => {
  it('refuses pseudo filesystems and paths through a file, and changes nothing', () => {
    expect(stateDirProblem('/proc/wayside/state')).toMatch(/^cannot use \/proc\/wayside\/state: \/proc is on the proc pseudo filesystem/);
    expect(stateDirProblem('/sys/wayside')).toMatch(/sysfs pseudo filesystem/);
    const dir = tmp();
    writeFileSync(path.join(dir, 'f'), '');
    expect(stateDirProblem(path.join(dir, 'f', 'state'))).toBe(`cannot create ${dir}/f/state: ${dir}/f is not a directory`);
    expect(stateDirProblem(path.join(dir, 'f'))).toBe(`${dir}/f exists and is not a directory`);
    symlinkSync(path.join(dir, 'gone'), path.join(dir, 'link'));
    expect(stateDirProblem(path.join(dir, 'link', 'state'))).toBe(`cannot create ${dir}/link/state: ${dir}/link is a symbolic link to a missing target`);
    expect(stateDirProblem(path.join(dir, 'a', 'b'))).toBeUndefined();
    expect(existsSync(path.join(dir, 'a'))).toBe(false);
  });

  it('is reported by readConfig at the stateDir line', () => {
    const file = path.join(tmp(), 'wayside.yaml');
    writeFileSync(file, 'version: 1\ngateway:\n  id: pole-1\n  stateDir: /proc/wayside\nuplink: { enabled: false }\n');
    expect(() => readConfig(file, createDriverRegistry([]), { env: {} })).toThrow(/^wayside\.yaml:4 gateway\.stateDir: cannot use \/proc\/wayside: \/proc is on the proc pseudo filesystem/);
  });
});

describe('mkdirs', () => {
  it('fails at once where recursive mkdir would spin', () => {
    const t0 = Date.now();
    expect(() => mkdirs('/proc/wayside/state')).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    const dir = tmp();
    symlinkSync(path.join(dir, 'gone'), path.join(dir, 'link'));
    expect(() => mkdirs(path.join(dir, 'link', 'state'))).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    expect(Date.now() - t0).toBeLessThan(1000);
  });

  it('makes every missing level 0700 and accepts an existing directory', () => {
    const dir = path.join(tmp(), 'a', 'b', 'c');
    mkdirs(dir);
    mkdirs(dir);
    expect(statSync(dir).isDirectory()).toBe(true);
    expect(statSync(path.dirname(dir)).mode & 0o777).toBe(0o700);
  });
});
