// The outbox file across upgrades and downgrades: its schema version (PRAGMA user_version).
// Files written by earlier agents (the schemas below are the statements those versions ran,
// from git history) are migrated forward with every record kept; a file stamped by a newer
// agent is refused by `wayside run` with one line naming the file and both versions, exit 1,
// and is left untouched.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { describe, expect, it } from 'vitest';
import { silentLog } from '../runtime/log.ts';
import { openOutbox, OutboxSchemaError, SCHEMA_VERSION } from '../runtime/outbox/index.ts';
import { until } from './helpers/wait.ts';

const root = path.resolve(import.meta.dirname, '..');
const node = path.join(root, 'node_modules/.bin/node');

// Version 1 (commit 0b65373, the first outbox).
const V1 = `
CREATE TABLE IF NOT EXISTS outbox (
  seq   INTEGER PRIMARY KEY,
  id    TEXT    NOT NULL,
  kind  TEXT    NOT NULL,
  ts    INTEGER NOT NULL,
  bytes INTEGER NOT NULL,
  json  TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_ts ON outbox(ts);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
`;
// Version 2 (commit 4710793): the dead-letter table.
const V2 =
  V1 +
  `CREATE TABLE IF NOT EXISTS dead_letter (
  seq    INTEGER PRIMARY KEY,
  id     TEXT    NOT NULL,
  kind   TEXT    NOT NULL,
  ts     INTEGER NOT NULL,
  bytes  INTEGER NOT NULL,
  reason TEXT    NOT NULL,
  at     INTEGER NOT NULL,
  json   TEXT    NOT NULL
);
`;

const now = Date.now();
const event = (id: string, ts = now) => JSON.stringify({ id, kind: 'event', ts, body: { id, type: 'test.old', severity: 'info', ts, data: { n: id } } });

/** An outbox file as an old agent left it: WAL mode, its schema, records and its meta cursor, no user_version. */
function oldFile(schema: string, n: number): { dir: string; file: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'wayside-schema-'));
  const file = path.join(dir, 'state/outbox.db');
  mkdirSync(path.dirname(file), { recursive: true });
  const db = new DatabaseSync(file);
  db.exec('PRAGMA journal_mode=WAL');
  db.exec(schema);
  const ins = db.prepare('INSERT INTO outbox(seq, id, kind, ts, bytes, json) VALUES (?, ?, ?, ?, ?, ?)');
  for (let i = 1; i <= n; i++) {
    const json = event(`old-${i}`);
    ins.run(i + 10, `old-${i}`, 'event', now, Buffer.byteLength(json), json);
  }
  db.prepare('INSERT INTO meta(key, value) VALUES (?, ?)').run('last_seq', n + 10);
  if (schema.includes('dead_letter')) db.prepare('INSERT INTO dead_letter VALUES (3, ?, ?, ?, ?, ?, ?, ?)').run('refused-1', 'event', now, 2, 'platform refused', now, '{}');
  db.close();
  return { dir, file };
}

const version = (file: string) => {
  const db = new DatabaseSync(file, { readOnly: true });
  try {
    return (db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version;
  } finally {
    db.close();
  }
};

describe('outbox store schema', () => {
  it.each([
    ['1 (no dead-letter table, no keep column)', V1],
    ['2 (no keep column)', V2],
  ])('a file of version %s migrates forward with its records, cursor and dead letters', async (_, schema) => {
    const { file } = oldFile(schema, 3);
    expect(version(file)).toBe(0); // before versioning, files carried no user_version
    const box = openOutbox({ path: file, maxBytes: 1 << 20, maxAgeMs: 86_400_000 }, { log: silentLog() });
    try {
      expect(version(file)).toBe(SCHEMA_VERSION);
      const recs = box.peek(10);
      expect(recs.map((r) => [r.seq, r.id])).toEqual([[11, 'old-1'], [12, 'old-2'], [13, 'old-3']]);
      expect(recs.map((r) => r.json)).toEqual([event('old-1'), event('old-2'), event('old-3')]);
      expect(box.stats()).toMatchObject({ depth: 3, setAside: schema === V2 ? 1 : 0 });
      // New records continue after the old cursor, and go out in order with the old ones.
      await box.append([{ id: 'new-1', kind: 'event', ts: now, body: { id: 'new-1', type: 't', severity: 'info', ts: now, data: {} } }]);
      expect(box.peek(10).map((r) => r.seq)).toEqual([11, 12, 13, 14]);
      const batches = await box.readBatches(0, 100, 1 << 20, 4);
      expect(batches.flatMap((b) => JSON.parse(`[${b.json}]`) as { id: string }[]).map((r) => r.id)).toEqual(['old-1', 'old-2', 'old-3', 'new-1']);
      box.ack(12);
    } finally {
      await box.close();
    }
    // Reopened: already current, nothing migrated again; the ack held.
    const again = openOutbox({ path: file, maxBytes: 1 << 20, maxAgeMs: 86_400_000 }, { log: silentLog() });
    try {
      expect(again.peek(10).map((r) => r.id)).toEqual(['old-3', 'new-1']);
    } finally {
      await again.close();
    }
    const db = new DatabaseSync(file, { readOnly: true });
    const cols = (db.prepare('PRAGMA table_info(outbox)').all() as { name: string }[]).map((c) => c.name);
    const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as { name: string }[]).map((t) => t.name);
    db.close();
    expect(cols).toContain('keep');
    expect(tables).toEqual(['dead_letter', 'meta', 'outbox']);
  });

  it('a new file is stamped with the current version', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'wayside-schema-'));
    const file = path.join(dir, 'outbox.db');
    const box = openOutbox({ path: file, maxBytes: 1 << 20, maxAgeMs: 86_400_000 }, { log: silentLog() });
    await box.close();
    expect(version(file)).toBe(SCHEMA_VERSION);
  });

  it('a file stamped by a newer agent is refused by openOutbox, untouched', () => {
    const { file } = oldFile(V2, 2);
    const db = new DatabaseSync(file);
    db.exec(`PRAGMA user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    const before = readFileSync(file);
    let err: unknown;
    try {
      openOutbox({ path: file, maxBytes: 1 << 20, maxAgeMs: 86_400_000 }, { log: silentLog() });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(OutboxSchemaError);
    expect(err).toMatchObject({ path: file, version: SCHEMA_VERSION + 1, supported: SCHEMA_VERSION });
    expect(readFileSync(file).equals(before)).toBe(true);
    expect(version(file)).toBe(SCHEMA_VERSION + 1);
  });

  it('`wayside run` on a newer file: one line on stderr naming the file and both versions, exit 1, records kept', async () => {
    const { dir, file } = oldFile(V2, 2);
    const db = new DatabaseSync(file);
    db.exec(`PRAGMA user_version = ${SCHEMA_VERSION + 2}`);
    db.close();
    const cfg = path.join(dir, 'wayside.yaml');
    writeFileSync(cfg, `version: 1\ngateway: { id: pole-schema, stateDir: ${dir}/state }\nhttp: { port: 0 }\nuplink: { enabled: false }\n`);
    const p = spawn(node, [path.join(root, 'main.ts'), 'run', '--config', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let stdout = '';
    p.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    p.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    const code = await new Promise<number | null>((r) => p.once('exit', (c) => r(c)));
    expect(code).toBe(1);
    expect(stderr).toBe(
      `wayside: cannot start: outbox ${file}: store schema version ${SCHEMA_VERSION + 2} is newer than this agent supports (up to ${SCHEMA_VERSION}): ` +
        'the file was written by a newer wayside; install that version again, or move the file aside to start an empty outbox\n',
    );
    expect(stdout).not.toContain('agent started');
    expect(version(file)).toBe(SCHEMA_VERSION + 2);
    const ro = new DatabaseSync(file, { readOnly: true });
    expect((ro.prepare('SELECT count(*) AS n FROM outbox').get() as { n: number }).n).toBe(2);
    ro.close();
  });

  it('`wayside run` on a version 1 file starts, says it migrated, and keeps the records', async () => {
    const { dir, file } = oldFile(V1, 4);
    const cfg = path.join(dir, 'wayside.yaml');
    writeFileSync(cfg, `version: 1\ngateway: { id: pole-schema-1, stateDir: ${dir}/state }\nhttp: { port: 0 }\nuplink: { enabled: false }\n`);
    const p = spawn(node, [path.join(root, 'main.ts'), 'run', '--config', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    p.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
    const exited = new Promise<number | null>((r) => p.once('exit', (c) => r(c)));
    await until(() => out.includes('agent started'), 30_000, 'agent started');
    p.kill('SIGTERM');
    expect(await exited).toBe(0);
    const migrated = out.split('\n').find((l) => l.includes('outbox store schema migrated'));
    expect(migrated, out).toBeDefined();
    expect(JSON.parse(migrated!)).toMatchObject({ level: 40, mod: 'outbox', from: 1, to: SCHEMA_VERSION });
    expect(version(file)).toBe(SCHEMA_VERSION);
    const ro = new DatabaseSync(file, { readOnly: true });
    const ids = (ro.prepare('SELECT id FROM outbox ORDER BY seq').all() as { id: string }[]).map((r) => r.id);
    ro.close();
    expect(ids.slice(0, 4)).toEqual(['old-1', 'old-2', 'old-3', 'old-4']);
  });
});
