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
 * The processes (other than this one) that have `devicePath` open, resolved through symlinks
 * (a socat `link=` or a /dev/serial/by-id name matches the node it points to). Processes whose
 * fds cannot be read (another user's, without root) are not seen: the answer is a lower bound.
 */
export function portHolders(devicePath: string): PortHolder[] {
  let target: string;
  try {
    target = fs.realpathSync(devicePath);
  } catch {
    return [];
  }
  const out: PortHolder[] = [];
  let pids: string[];
  try {
    pids = fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return [];
  }
  for (const p of pids) {
    const pid = Number(p);
    if (pid === process.pid) continue;
    let fds: string[];
    try {
      fds = fs.readdirSync(`/proc/${p}/fd`);
    } catch {
      continue;
    }
    const holds = fds.some((fd) => {
      try {
        return fs.readlinkSync(`/proc/${p}/fd/${fd}`) === target;
      } catch {
        return false;
      }
    });
    if (!holds) continue;
    let cmdline = '';
    try {
      cmdline = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
    } catch {
      // ended meanwhile
      continue;
    }
    out.push({ pid, cmdline });
  }
  return out;
}

/** True when a holder looks like a Wayside agent (`wayside run`, `main.ts run`, the bundle). */
export function isWaysideAgent(h: PortHolder): boolean {
  return /wayside|main\.(ts|js)/.test(h.cmdline) && /\brun\b/.test(h.cmdline);
}
