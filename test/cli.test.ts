// The `wayside` command as an operator meets it, spawned as a real process (bin/wayside):
// help and version exit 0, mistakes on the command line or in the file get one line (and the
// usage) with exit 2, never a stack trace.
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runWayside } from './helpers/agent-process.ts';

const root = path.resolve(import.meta.dirname, '..');
const VERSION = (JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string }).version;
const STACK = /^\s+at /m;

const wayside = runWayside;

function configFile(text: string, mode = 0o600): string {
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'wayside-cli-')), 'wayside.yaml');
  writeFileSync(file, text);
  chmodSync(file, mode);
  return file;
}

describe('wayside (process)', () => {
  it.each([['--version'], ['-V'], ['version']])('%s prints the version and exits 0', async (arg) => {
    const r = await wayside([arg]);
    expect(r).toMatchObject({ code: 0, err: '' });
    expect(r.out).toMatch(new RegExp(`^wayside ${VERSION.replaceAll('.', '\\.')} node 24\\.\\d+\\.\\d+\n$`));
  });

  it.each([['--help'], ['-h'], ['help'], ['check', '--help']])('%s prints the usage and exits 0', async (...args) => {
    const r = await wayside(args);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^wayside .* - edge agent/);
    expect(r.out).toContain('wayside check --config <file>');
  });

  it.each([
    [['--bogus'], "wayside: Unknown option '--bogus'"],
    [['check', '--config'], "wayside: Option '-c, --config <value>' argument missing"],
    [[], 'wayside: missing command'],
    [['start'], 'wayside: unknown command "start"'],
    [['check'], 'wayside: check: --config <file> is required'],
    [['demo', '--duration', 'abc'], 'wayside: --duration: expected a duration from 1s to 24h like "30s", "2m" or 90 (seconds), got "abc"'],
    [['demo', '--state', '/proc/wayside-demo'], 'wayside: --state: cannot use /proc/wayside-demo: /proc is on the proc pseudo filesystem (nothing written there persists); choose a directory on disk, like /var/lib/wayside'],
    [['demo', '--duration', '0'], 'wayside: --duration: expected a duration from 1s to 24h like "30s", "2m" or 90 (seconds), got "0"'],
  ])('%j: one line and the usage, exit 2', async (args, line) => {
    const r = await wayside(args);
    expect(r.code).toBe(2);
    expect(r.err.split('\n')[0]).toBe(line);
    expect(r.err).toContain('usage:');
    expect(r.err).not.toMatch(STACK);
  });

  it('demo --duration 3 runs three seconds (a bare number is seconds) and exits 0', async () => {
    const r = await wayside(['demo', '--duration', '3']);
    expect(r.err).not.toMatch(STACK);
    expect(r.code).toBe(0);
    expect(r.out).toContain('[platform] done');
    expect(r.ms).toBeGreaterThanOrEqual(3000);
  });
});

describe('wayside check / run (process)', () => {
  const GOOD = 'version: 1\ngateway: { id: pole-1, stateDir: ./state }\nhttp: { port: 0 }\n';

  it('check: ok, exit 0; the shipped example loads as is', async () => {
    expect(await wayside(['check', '--config', configFile(GOOD + 'uplink: { enabled: false }\n')])).toMatchObject({ code: 0, err: '' });
    const ex = await wayside(['check', '--config', path.join(root, 'docs/examples/wayside.yaml')]);
    expect(ex.err).toBe('');
    expect(ex).toMatchObject({ code: 0 });
  });

  it('check: every problem with file:line, exit 2, no stack trace', async () => {
    const r = await wayside(['check', '--config', configFile(GOOD + 'uplink: { url: "mqtt://host:notaport" }\nrules:\n  - { point: a/b, above: 10, below: 8, hysteresis: 2 }\n')]);
    expect(r.code).toBe(2);
    expect(r.err.trim().split('\n')).toEqual([
      'wayside.yaml:4 uplink.url: expected a port 1-65535 after the host, got "notaport" in "mqtt://host:notaport"',
      'wayside.yaml:6 rules[0].point: unknown device "a" in "a/b" (devices: none)',
      'wayside.yaml:6 rules[0].hysteresis: expected less than half the gap between below (8) and above (10), i.e. under 1, got 2',
    ]);
  });

  it('check: warns about an inline secret in a world-readable file, still exit 0', async () => {
    const r = await wayside(['check', '--config', configFile(GOOD + 'uplink:\n  url: mqtt://h\n  password: hunter2\n', 0o644)]);
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/^wayside\.yaml:6 uplink\.password: warning: this secret is written inline in a file every user can read \(mode 0644\)/);
    expect(r.err).not.toContain('hunter2');
  });

  it.each([['check'], ['run']])('%s: a state dir under /proc is refused at once (run used to spin, ignoring SIGTERM)', async (cmd) => {
    const r = await wayside([cmd, '--config', configFile('version: 1\ngateway: { id: pole-1, stateDir: /proc/wayside }\nuplink: { enabled: false }\n')], 10_000);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^wayside\.yaml:2 gateway\.stateDir: cannot use \/proc\/wayside: \/proc is on the proc pseudo filesystem/);
  });

  it('run: logs the same warning, then stops cleanly on SIGTERM', async () => {
    const file = configFile(GOOD + 'uplink:\n  enabled: false\n  url: mqtt://h\n  password: hunter2\n', 0o644);
    const proc = spawn(path.join(root, 'bin/wayside'), ['run', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
    for (let i = 0; i < 200 && !out.includes('agent started'); i++) await new Promise((r) => setTimeout(r, 50));
    proc.kill('SIGTERM');
    expect(await exited).toBe(0);
    const warning = out.split('\n').find((l) => l.includes('inline in a file every user can read'));
    expect(warning, out).toBeDefined();
    expect(JSON.parse(warning!)).toMatchObject({ level: 40, mod: 'config', file: 'wayside.yaml', line: 7, path: 'uplink.password' });
    expect(out).not.toContain('hunter2');
  });

  it('run: an HTTP port in use is one line naming it, exit 1, no stack trace', async () => {
    const busy = net.createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    const port = (busy.address() as net.AddressInfo).port;
    try {
      const r = await wayside(['run', '--config', configFile(GOOD.replace('port: 0', `port: ${port}`) + 'uplink: { enabled: false }\n')]);
      expect(r.code).toBe(1);
      expect(r.err).toBe(`wayside: cannot start: http server on 127.0.0.1:${port}: listen EADDRINUSE: address already in use 127.0.0.1:${port}\n`);
    } finally {
      busy.close();
    }
  });
});
