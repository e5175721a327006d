// Opening the outbox database: pragmas, schema and the prepared statements the store reuses.
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { closeSync, openSync, statSync } from 'node:fs';
import { ensureDir } from '../state.ts';
import { dirname } from 'node:path';

export const PAGE_SIZE = 4096;

export interface DbTuning {
  /** WAL bytes kept after a checkpoint (journal_size_limit). */
  walLimitBytes: number;
  maxPageCount?: number;
  /**
   * 'normal' (the store): COMMIT does not fsync and SQLite never checkpoints by itself; the store
   * fsyncs the WAL off the main thread before it resolves appends (sync.ts) and checkpoints from
   * a worker (checkpoint.ts). 'full' (the raw benchmark): every COMMIT fsyncs the WAL on the
   * calling thread. Both put a commit on stable storage before it is called durable.
   */
  sync?: 'normal' | 'full';
}

/** Pragmas shared by the store and the raw benchmark, so the comparison is honest. */
export function applyPragmas(db: DatabaseSync, t: DbTuning): void {
  // auto_vacuum only takes effect on a fresh file (before the first table); on an old file it is a no-op.
  db.exec(`PRAGMA page_size=${PAGE_SIZE}`);
  db.exec('PRAGMA auto_vacuum=INCREMENTAL');
  db.exec('PRAGMA journal_mode=WAL');
  const normal = (t.sync ?? 'normal') === 'normal';
  db.exec(`PRAGMA synchronous=${normal ? 'NORMAL' : 'FULL'}`);
  db.exec(`PRAGMA journal_size_limit=${t.walLimitBytes}`);
  db.exec(`PRAGMA wal_autocheckpoint=${normal ? 0 : Math.max(16, Math.floor(t.walLimitBytes / PAGE_SIZE))}`);
  db.exec('PRAGMA temp_store=MEMORY');
  if (t.maxPageCount !== undefined) db.exec(`PRAGMA max_page_count=${t.maxPageCount}`);
}

// json is the last column: the small columns sit at the start of the row, so scans that
// only read bytes/ts (caps, ack) touch no overflow pages. A fresh file gets this, the schema of
// SCHEMA_VERSION, at once; an older file gets MIGRATIONS (its columns then sit in another order).
export const SCHEMA = `
CREATE TABLE IF NOT EXISTS outbox (
  seq   INTEGER PRIMARY KEY,
  id    TEXT    NOT NULL,
  kind  TEXT    NOT NULL,
  ts    INTEGER NOT NULL,
  bytes INTEGER NOT NULL,
  keep  INTEGER NOT NULL DEFAULT 0,
  json  TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_ts ON outbox(ts);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
${deadLetter()}
`;

function deadLetter(): string {
  return `CREATE TABLE IF NOT EXISTS dead_letter (
  seq    INTEGER PRIMARY KEY,
  id     TEXT    NOT NULL,
  kind   TEXT    NOT NULL,
  ts     INTEGER NOT NULL,
  bytes  INTEGER NOT NULL,
  reason TEXT    NOT NULL,
  at     INTEGER NOT NULL,
  json   TEXT    NOT NULL
);`;
}

/**
 * The store schema this agent reads and writes, kept in the file's `PRAGMA user_version`.
 * 1: outbox and meta tables. 2: dead_letter (records the platform refused). 3: outbox.keep
 * (the reserved lane of the agent's own events). Raise it with a new MIGRATIONS step.
 */
export const SCHEMA_VERSION = 3;

/** Step n takes a file from version n-1 to n; each runs inside the one migration transaction. */
const MIGRATIONS: { to: number; up(db: DatabaseSync): void }[] = [
  { to: 2, up: (db) => db.exec(deadLetter()) },
  { to: 3, up: (db) => db.exec('ALTER TABLE outbox ADD COLUMN keep INTEGER NOT NULL DEFAULT 0') },
];

/** A store file written by a newer agent (a downgrade): refused, left as it is. */
export class OutboxSchemaError extends Error {
  readonly path: string;
  readonly version: number;
  readonly supported: number;
  constructor(path: string, version: number) {
    super(
      `store schema version ${version} is newer than this agent supports (up to ${SCHEMA_VERSION}): ` +
        'the file was written by a newer wayside; install that version again, or move the file aside to start an empty outbox',
    );
    this.name = 'OutboxSchemaError';
    this.path = path;
    this.version = version;
    this.supported = SCHEMA_VERSION;
  }
}

/** The version of a file made before user_version was kept (0 = no outbox table: a new file). */
function unversioned(db: DatabaseSync): number {
  const has = (table: string) => db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(table) !== undefined;
  if (!has('outbox')) return 0;
  const cols = db.prepare('PRAGMA table_info(outbox)').all() as { name: string }[];
  if (cols.some((c) => c.name === 'keep')) return 3;
  return has('dead_letter') ? 2 : 1;
}

/**
 * Brings the file to SCHEMA_VERSION in one transaction (all or nothing: a failed migration
 * leaves the old file as it was). Returns the version the file had (0 for a new file).
 * Throws OutboxSchemaError for a newer file.
 */
export function migrate(db: DatabaseSync, path: string): number {
  const stamped = (db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version;
  if (stamped > SCHEMA_VERSION) throw new OutboxSchemaError(path, stamped);
  if (stamped === SCHEMA_VERSION) return stamped;
  db.exec('BEGIN IMMEDIATE');
  try {
    const from = stamped === 0 ? unversioned(db) : stamped;
    for (const m of MIGRATIONS) if (from > 0 && m.to > from) m.up(db);
    // A new file gets the whole schema; an old one whatever table or index it lacks (all IF NOT EXISTS).
    db.exec(SCHEMA);
    db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
    db.exec('COMMIT');
    return from;
  } catch (err) {
    db.exec('ROLLBACK');
    throw err;
  }
}

export interface Statements {
  insert: StatementSync;
  peek: StatementSync;
  head: StatementSync;
  delHead: StatementSync;
  sumUpto: StatementSync;
  delUpto: StatementSync;
  sumOlder: StatementSync;
  delOlder: StatementSync;
  minTs: StatementSync;
  metaSet: StatementSync;
  metaAll: StatementSync;
  totals: StatementSync;
  sumRange: StatementSync;
  aside: StatementSync;
  delRange: StatementSync;
  asideCount: StatementSync;
}

export function openDb(path: string, t: DbTuning): { db: DatabaseSync; st: Statements; migratedFrom: number } {
  // Records are the gateway's data: only the agent's user reads them (SQLite gives -wal/-shm the same mode).
  ensureDir(dirname(path));
  closeSync(openSync(path, 'a', 0o600));
  const db = new DatabaseSync(path);
  let migratedFrom: number;
  try {
    applyPragmas(db, t);
    migratedFrom = migrate(db, path);
  } catch (err) {
    db.close();
    if (err instanceof OutboxSchemaError) throw err;
    throw new Error(`outbox ${path}: cannot open database: ${(err as Error).message}`, { cause: err });
  }
  const p = (sql: string) => db.prepare(sql);
  const st: Statements = {
    insert: p('INSERT INTO outbox(seq, id, kind, ts, bytes, json, keep) VALUES (?, ?, ?, ?, ?, ?, ?)'),
    peek: p('SELECT seq, id, kind, ts, json FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?'),
    sumRange: p('SELECT count(*) AS n, coalesce(sum(bytes), 0) AS b FROM outbox WHERE seq > ? AND seq <= ?'),
    aside: p('INSERT OR REPLACE INTO dead_letter(seq, id, kind, ts, bytes, reason, at, json) SELECT seq, id, kind, ts, bytes, ?, ?, json FROM outbox WHERE seq >= ? AND seq <= ? AND seq > ?'),
    delRange: p('DELETE FROM outbox WHERE seq >= ? AND seq <= ?'),
    asideCount: p('SELECT count(*) AS n FROM dead_letter'),
    // The size cap's drop-oldest skips the agent's own events (keep = 1): a stored disk-full
    // raise is never dropped while its clear survives. Acked rows (seq <= the cursor) go anyway.
    head: p('SELECT seq, bytes FROM outbox WHERE seq > ? AND keep = 0 ORDER BY seq LIMIT 512'),
    delHead: p('DELETE FROM outbox WHERE seq <= ? AND (keep = 0 OR seq <= ?)'),
    sumUpto: p('SELECT count(*) AS n, coalesce(sum(bytes), 0) AS b FROM outbox WHERE seq <= ?'),
    delUpto: p('DELETE FROM outbox WHERE seq <= ?'),
    // Rows up to the acked cursor are gone for the store (deleted lazily): these skip them.
    sumOlder: p('SELECT count(*) AS n, coalesce(sum(bytes), 0) AS b FROM outbox WHERE seq > ? AND ts >= ? AND ts < ?'),
    delOlder: p('DELETE FROM outbox WHERE ts >= ? AND ts < ?'),
    minTs: p('SELECT ts AS t FROM outbox WHERE seq > ? ORDER BY seq LIMIT 1'),
    metaSet: p('INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value'),
    metaAll: p('SELECT key, value FROM meta'),
    totals: p('SELECT count(*) AS n, coalesce(sum(bytes), 0) AS b, coalesce(max(seq), 0) AS s, min(ts) AS t FROM outbox'),
  };
  return { db, st, migratedFrom };
}

/** The primary SQLite result code of an error thrown by node:sqlite (13 = SQLITE_FULL), if any. */
export function sqliteErrcode(err: unknown): number | undefined {
  const c = (err as { errcode?: unknown }).errcode;
  return typeof c === 'number' ? c : undefined;
}

/** Pages given back per maintenance step: bounded so one step stays a few ms on the main thread. */
const VACUUM_STEP_PAGES = 256;

/**
 * Keep the file bounded: give a big free list back to the file system (auto_vacuum=INCREMENTAL),
 * a bounded step at a time. `force` (close, full disk) frees it all and truncates the WAL.
 */
export function maintainFile(db: DatabaseSync, force: boolean, vacuumElsewhere?: (pages: number) => boolean): void {
  const pages = (db.prepare('PRAGMA page_count').get() as { page_count: number }).page_count;
  const free = (db.prepare('PRAGMA freelist_count').get() as { freelist_count: number }).freelist_count;
  // Free pages are reused by the next inserts; shrinking only pays when many sit idle.
  if (free * PAGE_SIZE > Math.max(force ? 0 : 256 << 10, (pages * PAGE_SIZE) / 4)) {
    // A step moves pages and rewrites pointer maps: 14-20 ms measured during a drain, so it runs
    // in the housekeeping worker when there is one (`vacuumElsewhere`), not on the event loop.
    if (force || !vacuumElsewhere?.(VACUUM_STEP_PAGES)) db.exec(`PRAGMA incremental_vacuum${force ? '' : `(${VACUUM_STEP_PAGES})`}`);
  }
  if (force) db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
}

export function fileSize(p: string): number {
  try {
    return statSync(p).size;
  } catch {
    return 0; // no WAL yet (or already truncated away)
  }
}
