// Small state documents (clock corrections, identity, deployed versions): one JSON file each,
// written atomically and durably. Write to a temp file, fsync it, rename over the old one, fsync
// the directory: after a power cut the file holds the old document or the new one, never half,
// and a rename that returned is not undone. Files are 0600, directories 0700.
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, statSync, writeSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';

export interface StateDir {
  /** Absolute path of the directory (created 0700 on first use). */
  readonly path: string;
  /** The parsed document, or undefined when the file does not exist. Throws on unreadable JSON (naming the file). */
  read<T = unknown>(name: string): T | undefined;
  /** Atomic, fsync'd replace of `name` with `value` as JSON. */
  write(name: string, value: unknown): void;
  /** A sub-directory (e.g. one per service). */
  sub(name: string): StateDir;
}

export function stateDir(path: string): StateDir {
  let made = false;
  const ensure = () => {
    if (made) return;
    ensureDir(path);
    made = true;
  };
  return {
    path,
    read<T>(name: string): T | undefined {
      const file = join(path, name);
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw err;
      }
      try {
        return JSON.parse(text) as T;
      } catch (err) {
        throw new Error(`${file}: not valid JSON: ${(err as Error).message}`, { cause: err });
      }
    },
    write(name, value) {
      ensure();
      writeJsonAtomic(join(path, name), value);
    },
    sub: (name) => stateDir(join(path, name)),
  };
}

/** Atomic, durable replace of `file` with `value` serialized as JSON (mode 0600). */
export function writeJsonAtomic(file: string, value: unknown): void {
  writeFileAtomic(file, JSON.stringify(value, null, 2) + '\n');
}

/**
 * Atomic, durable replace of `file` with `data`: a temp file beside it (unique, so concurrent
 * writers do not share one), written whole and fsync'd, renamed over the old one, then the
 * directory fsync'd. After a power cut the file holds the old bytes or the new, never a mix.
 */
export function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o600): void {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(3).toString('hex')}`;
  const fd = openSync(tmp, 'w', mode);
  try {
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  // The rename lives in the directory: sync it too, or a power cut may bring back the old name.
  const dfd = openSync(dirname(file), 'r');
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
}

/**
 * `mkdir -p` that always ends. Node's `mkdirSync(p, { recursive: true })` spins forever (100% CPU,
 * signals unserved) on a path under /proc, where mkdir answers ENOENT however often it is asked:
 * this walks up to the nearest existing ancestor and creates each level once, so the error
 * (ENOENT, EACCES, EROFS, ENOTDIR) comes back with the path it concerns.
 */
export function ensureDir(path: string, mode = 0o700): void {
  const missing: string[] = [];
  for (let p = resolve(path); ; p = dirname(p)) {
    try {
      if (!statSync(p).isDirectory()) throw Object.assign(new Error(`${p} is not a directory`), { code: 'ENOTDIR' });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || dirname(p) === p) throw err;
      missing.push(p);
    }
  }
  for (const p of missing.reverse()) {
    try {
      mkdirSync(p, { mode });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
}
