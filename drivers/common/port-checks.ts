// Checks across devices that share a port, run before anything opens (`wayside check`): line
// settings that disagree, two devices of one family polling one address, a discovery device
// that needs its bus to itself. Families describe each device's port use; these rules are one.
import type { DeviceIssue } from '../../runtime/drivers.ts';

export interface LineSettings {
  path: string;
  baudRate: number;
  dataBits: 7 | 8;
  parity: 'none' | 'even' | 'odd';
  stopBits: 1 | 2;
}

/** How one device uses a port, as its family sees it. */
export interface PortUse {
  index: number;
  device: string;
  family: string;
  /** Bus key: the serial path, or tcp:host:port. Equal keys share one bus. */
  key: string;
  /** Line settings (serial) or framing (tcp) as text; devices on one key must agree. */
  settings: string;
  /** Address in the family's own space (Modbus unit, meter address); "auto" = discovery. */
  address?: string;
  /** Paths (relative to the device) where an issue about settings or address points. */
  settingsPath: (string | number)[];
  addressPath: (string | number)[];
}

export type IndexedIssue = DeviceIssue & { index: number };

export function lineText(l: Omit<LineSettings, 'path'>): string {
  return `${l.baudRate} ${l.dataBits}${l.parity[0].toUpperCase()}${l.stopBits}`;
}

/** Settings that disagree with the first device on the port. `across`: only with another family's. */
export function checkPortSettings(uses: PortUse[], across = false): IndexedIssue[] {
  const first = new Map<string, PortUse>();
  const out: IndexedIssue[] = [];
  for (const u of uses) {
    const f = first.get(u.key);
    if (!f) first.set(u.key, u);
    else if (f.settings !== u.settings && (!across || f.family !== u.family)) {
      out.push({ index: u.index, path: u.settingsPath, message: `port ${u.key}: ${u.settings} disagrees with ${f.family} device "${f.device}" (${f.settings}) on the same port; devices on one port share one line` });
    }
  }
  return out;
}

/** Same address twice on one port, and discovery sharing a port, within one family. */
export function checkPortAddresses(uses: PortUse[]): IndexedIssue[] {
  const out: IndexedIssue[] = [];
  const seen = new Map<string, PortUse[]>();
  for (const u of uses) {
    if (u.address === undefined) continue;
    const k = `${u.family}\0${u.key}`;
    const others = seen.get(k) ?? [];
    for (const o of others) {
      if (u.address === 'auto' || o.address === 'auto') {
        const [auto, fixed] = u.address === 'auto' ? [u, o] : [o, u];
        out.push({ index: u.index, path: u.addressPath, message: `port ${u.key}: device "${auto.device}" discovers its address ("auto"), which needs the port to itself, but "${fixed.device}" is on it too; configure every address` });
        break;
      }
      if (u.address === o.address) {
        out.push({ index: u.index, path: u.addressPath, message: `port ${u.key}: address ${u.address} is already polled by device "${o.device}"` });
        break;
      }
    }
    seen.set(k, [...others, u]);
  }
  return out;
}

/** What a family's checkAll runs over its own devices. */
export function checkFamilyPorts(uses: PortUse[]): IndexedIssue[] {
  return [...checkPortSettings(uses), ...checkPortAddresses(uses)];
}

/**
 * Across families on one port: line settings that disagree between, say, a Modbus RTU device
 * and a DL/T 645 meter, and a device that needs its port to itself (a streaming sensor, a modem) sharing it.
 * Disagreements within one family are its own checkAll's (reported once, not twice).
 */
export function checkPortsAcrossFamilies(uses: (PortUse & { exclusive?: boolean })[]): IndexedIssue[] {
  const out = checkPortSettings(uses.filter((u) => !u.exclusive), true);
  const byKey = new Map<string, PortUse & { exclusive?: boolean }>();
  for (const u of uses) {
    const f = byKey.get(u.key);
    if (!f) byKey.set(u.key, u);
    else if ((u.exclusive || f.exclusive) && f.family !== u.family) {
      const message = f.exclusive
        ? `port ${u.key} belongs to ${f.family} device "${f.device}", which needs the port to itself`
        : `port ${u.key} is used by ${f.family} device "${f.device}"; ${u.family} device "${u.device}" needs the port to itself`;
      out.push({ index: u.index, path: u.settingsPath, message });
    }
  }
  return out;
}
