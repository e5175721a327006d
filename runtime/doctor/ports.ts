// Serial ports: does the device node exist, may this user open it, does another process hold it?
// A port the running agent holds is not opened (the agent owns it: that is the healthy case).
import fs from 'node:fs';
import os from 'node:os';
import { isWaysideAgent, portHolders, ptyProviders, type PortHolder } from '../ports.ts';
import { errorText, type Outcome } from './check.ts';

export { scanProcesses, type ProcScan } from '../ports.ts';

export interface PortFinding extends Outcome {
  /** True when the device(s) on this port must not be opened by doctor (missing, refused, held). */
  blocked: boolean;
  /** Set when the running agent of this config holds the port. */
  agentPid?: number;
}

export interface PortCheckDeps {
  /** Pids of the agent running this config (agent.ts). */
  agentPids: number[];
  /** The agent of this config runs (seen in /proc or answering /healthz): its ports are never opened. */
  agentRunning?: boolean;
  holders?: (path: string) => PortHolder[];
  /** Pids holding the master side of the pty that `path` is (default: ptyProviders). */
  providers?: (path: string) => number[];
  /** Opens and closes the node (default: fs.openSync read-write, non-blocking, no controlling tty). */
  open?: (path: string) => void;
}

const defaultOpen = (p: string) => fs.closeSync(fs.openSync(p, fs.constants.O_RDWR | fs.constants.O_NOCTTY | fs.constants.O_NONBLOCK));

/** Checks one port used by `devices` (their ids, for the messages). */
export function checkPort(path: string, devices: string[], deps: PortCheckDeps): PortFinding {
  const users = `used by ${devices.join(', ')}`;
  let st: fs.Stats;
  try {
    st = fs.statSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      const dangling = linkTarget(path);
      return {
        status: 'fail', blocked: true,
        detail: dangling ? `${path} is a link to ${dangling}, which does not exist (${users})` : `${path} does not exist (${users})`,
        hint: 'plug the adapter in (dmesg | tail shows it arrive); `ls -l /dev/serial/by-id/` lists the adapters present: put that path in the config',
      };
    }
    return { status: 'fail', blocked: true, detail: `${path}: ${errorText(err)} (${users})`, hint: 'check the path in the config' };
  }
  if (!st.isCharacterDevice()) {
    return { status: 'fail', blocked: true, detail: `${path} is not a serial device (${kind(st)}; ${users})`, hint: 'the config must name a serial device node, like /dev/ttyUSB0 or /dev/serial/by-id/...' };
  }
  // The process that made a virtual port (socat, a serial-over-network bridge) holds its pty
  // master and usually the slave as well: it is the device's side, not a competitor.
  const providers = new Set((deps.providers ?? ptyProviders)(path));
  const holders = (deps.holders ?? portHolders)(path).filter((h) => !providers.has(h.pid));
  const ours = holders.find((h) => deps.agentPids.includes(h.pid));
  const others = holders.filter((h) => !deps.agentPids.includes(h.pid));
  if (others.length) {
    const h = others[0];
    const who = others.map((o) => `pid ${o.pid} (${short(o.cmdline)})`).join(', ');
    return {
      status: 'fail', blocked: true,
      detail: `${path} is held open by ${isWaysideAgent(h) ? 'another Wayside agent, ' : ''}${who} (${users})`,
      hint: holderHint(h, path),
    };
  }
  if (ours) return { status: 'pass', blocked: true, agentPid: ours.pid, detail: `${path} is open in the running agent (pid ${ours.pid}); not opened by doctor (${users})` };
  if (deps.agentRunning) return { status: 'pass', blocked: true, detail: `${path} is present; not opened by doctor: the running agent owns it (${users})` };
  try {
    (deps.open ?? defaultOpen)(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM') {
      const group = groupName(st.gid);
      const user = userName();
      const member = process.getgroups?.().includes(st.gid) ?? false;
      if (process.getuid?.() === st.uid) {
        return {
          status: 'fail', blocked: true,
          detail: `permission denied: ${path} is ${modeText(st.mode)} ${userOf(st.uid)}:${group}, owned by user ${user} but shut to it (${users})`,
          hint: `give it a usable mode: chmod 660 ${path}, and a udev rule (GROUP="dialout", MODE="0660") so it stays so`,
        };
      }
      return {
        status: 'fail', blocked: true,
        detail: `permission denied: ${path} is ${modeText(st.mode)} ${userOf(st.uid)}:${group}, and user ${user} is ${member ? 'in' : 'not in'} group ${group} (${users})`,
        hint: member
          ? `the mode of ${path} lets group ${group} no access: a udev rule should make it 0660 (GROUP="${group}", MODE="0660")`
          : `add the user to the port's group: sudo usermod -aG ${group} ${user} (the service user is "wayside"), then restart the agent or log in again`,
      };
    }
    if (code === 'EBUSY') {
      return { status: 'fail', blocked: true, detail: `${path} is busy: another process opened it exclusively (${users})`, hint: 'find it with `fuser -v ' + path + '` and stop it (ModemManager, a serial console, minicom...)' };
    }
    if (code === 'ENXIO' || code === 'EIO' || code === 'ENODEV') {
      return { status: 'fail', blocked: true, detail: `${path} cannot be opened: ${errorText(err)} (${users})`, hint: 'the adapter is gone or broken: replug it and look at `dmesg | tail`' };
    }
    return { status: 'fail', blocked: true, detail: `${path} cannot be opened: ${errorText(err)} (${users})`, hint: 'look at `dmesg | tail` for the adapter' };
  }
  return { status: 'pass', blocked: false, detail: `${path} is present, opens read-write and no other process holds it (${users})` };
}


function holderHint(h: PortHolder, path: string): string {
  const c = h.cmdline;
  if (isWaysideAgent(h)) return `two agents cannot share a port: stop the other agent (kill ${h.pid}) or give this device another port`;
  if (/ModemManager/i.test(c)) return 'ModemManager probes serial ports: `systemctl disable --now ModemManager`, or tag the adapter ID_MM_DEVICE_IGNORE=1 in a udev rule';
  if (/getty/.test(c)) return `a login console runs on the port: systemctl disable --now serial-getty@${path.replace(/^.*\//, '')}`;
  if (/\b(minicom|picocom|screen|cu|putty|tio)\b/.test(c)) return `a terminal program has the port open: close it (or kill ${h.pid})`;
  return `stop that process (kill ${h.pid}) or give the device another port`;
}

function linkTarget(p: string): string | undefined {
  try {
    return fs.lstatSync(p).isSymbolicLink() ? fs.readlinkSync(p) : undefined;
  } catch {
    return undefined;
  }
}

function kind(st: fs.Stats): string {
  if (st.isFile()) return 'a regular file';
  if (st.isDirectory()) return 'a directory';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isFIFO()) return 'a pipe';
  if (st.isSocket()) return 'a socket';
  return 'not a character device';
}

/** `crw-rw----` for a character device's mode. */
export function modeText(mode: number): string {
  const bits = 'rwxrwxrwx';
  let s = '';
  for (let i = 0; i < 9; i++) s += mode & (1 << (8 - i)) ? bits[i] : '-';
  return `c${s}`;
}

function lookup(file: string, id: number): string | undefined {
  try {
    for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
      const f = line.split(':');
      if (f.length > 2 && Number(f[2]) === id) return f[0];
    }
  } catch {
    // no /etc/group: show the number
  }
  return undefined;
}

export const groupName = (gid: number): string => lookup('/etc/group', gid) ?? String(gid);
const userOf = (uid: number): string => lookup('/etc/passwd', uid) ?? String(uid);

function userName(): string {
  try {
    return os.userInfo().username;
  } catch {
    return String(process.getuid?.() ?? '?');
  }
}

function short(cmdline: string): string {
  return cmdline.length > 60 ? cmdline.slice(0, 57) + '...' : cmdline;
}
