// The state directory: `check` tells whether it can be made without making it (runtime/state.ts's
// ensureDir makes it without Node's recursive mkdir, which loops forever under /proc or a dangling
// symlink: mkdir answers ENOENT although the parent exists, 100% CPU, SIGTERM ignored).
import { accessSync, constants, lstatSync, statfsSync, statSync } from 'node:fs';
import path from 'node:path';

// statfs magic numbers of kernel pseudo filesystems: nothing written there persists.
const PSEUDO_FS: Record<number, string> = { 0x9fa0: 'proc', 0x62656572: 'sysfs', 0x27e0eb: 'cgroup', 0x63677270: 'cgroup2', 0x64626720: 'debugfs' };

/** Why `dir` cannot be the state directory, or undefined; reads the filesystem, changes nothing. */
export function stateDirProblem(dir: string): string | undefined {
  const abs = path.resolve(dir);
  let existing = abs;
  for (;;) {
    try {
      const st = statSync(existing);
      if (!st.isDirectory()) return existing === abs ? `${abs} exists and is not a directory` : `cannot create ${abs}: ${existing} is not a directory`;
      break;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EACCES') return `cannot create ${abs}: permission denied to look into ${path.dirname(existing)}`;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') return `cannot use ${abs}: ${code ?? String(err)} at ${existing}`;
      // A dangling symlink makes recursive mkdir spin just like /proc does.
      if (isLink(existing)) return `cannot create ${abs}: ${existing} is a symbolic link to a missing target`;
      const parent = path.dirname(existing);
      if (parent === existing) return `cannot create ${abs}: no existing parent directory`;
      existing = parent;
    }
  }
  const fsName = pseudoFs(existing);
  if (fsName) return `cannot use ${abs}: ${existing} is on the ${fsName} pseudo filesystem (nothing written there persists); choose a directory on disk, like /var/lib/wayside`;
  try {
    accessSync(existing, constants.W_OK | constants.X_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'EROFS' ? 'is on a read-only filesystem' : 'is not writable by this user';
    return existing === abs ? `${abs} ${why}` : `cannot create ${abs}: ${existing} ${why}`;
  }
  return undefined;
}

function isLink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

function pseudoFs(dir: string): string | undefined {
  try {
    const name = PSEUDO_FS[Number(statfsSync(dir).type)];
    if (name) return name;
  } catch {
    // statfs unsupported here: fall back to the well-known mount points.
  }
  const top = path.resolve(dir).split(path.sep)[1];
  return top === 'proc' ? 'proc' : top === 'sys' ? 'sysfs' : undefined;
}
