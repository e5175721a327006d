// `wayside scan serial`: the serial ports of this machine, read from sysfs (no udevadm, no
// libudev): each /sys/class/tty entry backed by a device, with the USB vendor and product ids,
// manufacturer, product and serial number of a USB adapter, the kernel driver that serves it,
// and the /dev/serial/by-id and by-path names that point at it. The sysfs and /dev roots are
// parameters so the reading can be tested on a tree made in a temp directory.
import fs from 'node:fs';
import path from 'node:path';

export interface UsbInfo {
  /** "0403", as lsusb prints it. */
  vendorId: string;
  productId: string;
  manufacturer?: string;
  product?: string;
  serial?: string;
  /** Interface number of a multi-port adapter ("00", "01"). */
  interface?: string;
}

export interface SerialPortInfo {
  /** Kernel name: ttyUSB0, ttyACM0, ttyS0, ttyAMA0. */
  name: string;
  /** Device node: /dev/ttyUSB0. */
  path: string;
  /** Where the port lives: a USB adapter, an on-board UART (platform, pnp, pci), or a virtual tty. */
  bus: 'usb' | 'pci' | 'platform' | 'pnp' | 'serial-base' | 'virtual' | 'other';
  /** Kernel driver serving the port: ftdi_sio, cp210x, ch341-uart, cdc_acm, serial8250, port. */
  driver?: string;
  usb?: UsbInfo;
  /** Stable names in /dev/serial/by-id and by-path that point at this port. */
  byId: string[];
  byPath: string[];
}

export interface ListOptions {
  /** Root of sysfs (default /sys). */
  sysfs?: string;
  /** Root of the device nodes (default /dev). */
  dev?: string;
  /** Also list virtual ttys and 8250 slots without a UART (default false). */
  all?: boolean;
}

const read = (file: string): string | undefined => {
  try {
    return fs.readFileSync(file, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
};

const linkName = (link: string): string | undefined => {
  try {
    return path.basename(fs.readlinkSync(link));
  } catch {
    return undefined;
  }
};

/** The USB device (the directory with idVendor) at or above `dir`, and the interface under it. */
function usbAbove(dir: string, root: string): { device: string; iface?: string } | undefined {
  let d = dir;
  let child: string | undefined;
  while (d.startsWith(root) && d !== root && d !== path.dirname(d)) {
    if (fs.existsSync(path.join(d, 'idVendor'))) return { device: d, iface: child };
    child = d;
    d = path.dirname(d);
  }
  return undefined;
}

/** Names in /dev/serial/<sub> whose link points at the node `name`. */
function aliases(dev: string, sub: 'by-id' | 'by-path', name: string): string[] {
  const dir = path.join(dev, 'serial', sub);
  let entries: string[];
  try {
    entries = fs.readdirSync(dir);
  } catch {
    return [];
  }
  return entries.filter((e) => linkName(path.join(dir, e)) === name).sort().map((e) => path.join(dir, e));
}

function subsystem(dir: string): string | undefined {
  try {
    return path.basename(fs.realpathSync(path.join(dir, 'subsystem')));
  } catch {
    return undefined;
  }
}

function busOf(deviceDir: string, usb: boolean, driverLink: string): SerialPortInfo['bus'] {
  if (usb) return 'usb';
  const sub = subsystem(deviceDir) ?? path.basename(path.dirname(path.dirname(driverLink)));
  return (['pci', 'platform', 'pnp', 'serial-base'] as const).find((b) => b === sub) ?? 'other';
}

/** Serial ports by kernel name (ttyACM0 before ttyUSB0 before ttyS0 sorts naturally). */
export function listSerialPorts(opts: ListOptions = {}): SerialPortInfo[] {
  const sysfs = opts.sysfs ?? '/sys';
  const dev = opts.dev ?? '/dev';
  const classDir = path.join(sysfs, 'class', 'tty');
  let names: string[];
  try {
    names = fs.readdirSync(classDir);
  } catch {
    return [];
  }
  const out: SerialPortInfo[] = [];
  for (const name of names) {
    const entry = path.join(classDir, name);
    let deviceDir: string | undefined;
    try {
      deviceDir = fs.realpathSync(path.join(entry, 'device'));
    } catch {
      deviceDir = undefined;
    }
    const base = { name, path: path.join(dev, name), byId: aliases(dev, 'by-id', name), byPath: aliases(dev, 'by-path', name) };
    if (!deviceDir) {
      if (opts.all) out.push({ ...base, bus: 'virtual' });
      continue;
    }
    // An 8250 slot the kernel reserved without finding a UART there reports type 0.
    if (!opts.all && /^ttyS\d+$/.test(name) && read(path.join(entry, 'type')) === '0') continue;
    // Kernels from 6.5 put a serial-base port and controller between the tty and its UART:
    // the UART (pnp, platform, pci device) and its driver are what the operator knows.
    while (subsystem(deviceDir) === 'serial-base' && subsystem(path.dirname(deviceDir))) deviceDir = path.dirname(deviceDir);
    const driverLink = (() => {
      try {
        return fs.realpathSync(path.join(deviceDir, 'driver'));
      } catch {
        return '';
      }
    })();
    const found = usbAbove(deviceDir, fs.realpathSync(sysfs));
    let usb: UsbInfo | undefined;
    let driver = driverLink ? path.basename(driverLink) : undefined;
    if (found) {
      const f = (n: string) => read(path.join(found.device, n));
      usb = {
        vendorId: f('idVendor') ?? '',
        productId: f('idProduct') ?? '',
        ...(f('manufacturer') && { manufacturer: f('manufacturer') }),
        ...(f('product') && { product: f('product') }),
        ...(f('serial') && { serial: f('serial') }),
        ...(found.iface && read(path.join(found.iface, 'bInterfaceNumber')) && { interface: read(path.join(found.iface, 'bInterfaceNumber')) }),
      };
      // ttyACM: the tty's device is the interface itself; ttyUSB: a port under it, same driver.
      driver ??= found.iface ? linkName(path.join(found.iface, 'driver')) : undefined;
    }
    out.push({ ...base, bus: busOf(deviceDir, !!found, driverLink), ...(driver && { driver }), ...(usb && { usb }) });
  }
  const key = (n: string) => n.replace(/\d+$/, (d) => d.padStart(6, '0'));
  return out.sort((a, b) => key(a.name).localeCompare(key(b.name)));
}

/** One line per port for a terminal. */
export function formatSerialPort(p: SerialPortInfo): string {
  const parts = [p.path.padEnd(14), p.bus.padEnd(8)];
  if (p.usb) {
    parts.push(`${p.usb.vendorId}:${p.usb.productId}`);
    const what = [p.usb.manufacturer, p.usb.product].filter(Boolean).join(' ');
    if (what) parts.push(what);
    if (p.usb.serial) parts.push(`serial ${p.usb.serial}`);
    if (p.usb.interface) parts.push(`interface ${p.usb.interface}`);
  }
  if (p.driver) parts.push(`driver ${p.driver}`);
  for (const l of p.byId) parts.push(`by-id ${l}`);
  return parts.join('  ').trimEnd();
}
