// Who holds a device node open: read from /proc/<pid>/fd (Linux, no lsof or fuser needed).
// Used by `wayside doctor` ("port already used by another process") and the bus scanners
// (which refuse a port the running agent owns unless --force).
import fs from 'node:fs';

export interface PortHolder {
  pid: number;
  /** The process's command line, arguments joined by spaces. */
  cmdline: string;
}

/**
 * One pass over /proc: who holds which node, and who holds which pty's master side (socat's
 * end of a virtual serial line). Each walk costs as much as there are open files on the machine:
 * a caller with several ports (doctor) scans once and asks for each. Processes whose fds cannot
 * be read (another user's, without root) are not seen: the answers are lower bounds.
 */
export interface ProcScan {
  /** The processes (other than this one) that have `path` open, resolved through symlinks. */
  holders(path: string): PortHolder[];
  /** Pids holding the master side of the pty `path` resolves to (/proc/<pid>/fdinfo tty-index). */
  providers(path: string): number[];
}

export function scanProcesses(): ProcScan {
  const byTarget = new Map<string, Set<number>>();
  const masters = new Map<string, Set<number>>(); // pty index -> pids holding its master
  let pids: string[] = [];
  try {
    pids = fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    // no /proc: nobody is seen
  }
  const add = (m: Map<string, Set<number>>, k: string, pid: number) => {
    let set = m.get(k);
    if (!set) m.set(k, (set = new Set()));
    set.add(pid);
  };
  for (const p of pids) {
    const pid = Number(p);
    if (pid === process.pid) continue;
    let fds: string[];
    try {
      fds = fs.readdirSync(`/proc/${p}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      let target: string;
      try {
        target = fs.readlinkSync(`/proc/${p}/fd/${fd}`);
      } catch {
        continue;
      }
      if (!target.startsWith('/')) continue; // sockets, pipes, anon inodes
      add(byTarget, target, pid);
      if (/^\/dev\/(pts\/)?ptmx$/.test(target)) {
        try {
          const index = /^tty-index:\s*(\d+)$/m.exec(fs.readFileSync(`/proc/${p}/fdinfo/${fd}`, 'utf8'))?.[1];
          if (index !== undefined) add(masters, index, pid);
        } catch {
          // ended meanwhile
        }
      }
    }
  }
  const real = (path: string) => {
    try {
      return fs.realpathSync(path);
    } catch {
      return undefined;
    }
  };
  return {
    holders(path) {
      const target = real(path);
      if (!target) return [];
      return [...(byTarget.get(target) ?? [])].flatMap((pid) => {
        try {
          return [{ pid, cmdline: fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ') }];
        } catch {
          return []; // ended meanwhile
        }
      });
    },
    providers(path) {
      const index = /^\/dev\/pts\/(\d+)$/.exec(real(path) ?? '')?.[1];
      return index === undefined ? [] : [...(masters.get(index) ?? [])];
    },
  };
}

/** The processes (other than this one) that have `devicePath` open (one /proc walk). */
export const portHolders = (devicePath: string): PortHolder[] => scanProcesses().holders(devicePath);

/** Pids holding the master side of the pty `devicePath` is (one /proc walk). */
export const ptyProviders = (devicePath: string): number[] => scanProcesses().providers(devicePath);

/** True when a holder looks like a Wayside agent (`wayside run`, `main.ts run`, the bundle). */
export function isWaysideAgent(h: PortHolder): boolean {
  return /wayside|main\.(ts|js)/.test(h.cmdline) && /\brun\b/.test(h.cmdline);
}
