// Reading serial ports from sysfs. No USB serial adapter exists on the test machine, so the USB
// cases run on a sysfs tree built in a temp directory with the layout the kernel gives an FTDI
// adapter (ttyUSB, usb-serial driver) and an Arduino (ttyACM, cdc_acm); the last case reads the
// machine's real /sys and /dev.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { formatSerialPort, listSerialPorts } from './serial-list.ts';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'wayside-sysfs-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

function file(p: string, text: string) {
  fs.mkdirSync(path.dirname(path.join(root, p)), { recursive: true });
  fs.writeFileSync(path.join(root, p), text + '\n');
}
/** A relative symlink at `from` pointing at `to` (both under root), as sysfs makes them. */
function link(from: string, to: string) {
  const f = path.join(root, from);
  fs.mkdirSync(path.dirname(f), { recursive: true });
  if (!fs.existsSync(path.join(root, to))) fs.mkdirSync(path.join(root, to), { recursive: true });
  fs.symlinkSync(path.relative(path.dirname(f), path.join(root, to)), f);
}

/** A tty class entry backed by `device` (or virtual when undefined). */
function tty(name: string, device: string | undefined, type?: string) {
  const dir = device ? `${device}/tty/${name}` : `sys/devices/virtual/tty/${name}`;
  fs.mkdirSync(path.join(root, dir), { recursive: true });
  if (device) link(`${dir}/device`, device);
  if (type) file(`${dir}/type`, type);
  link(`sys/class/tty/${name}`, dir);
  file(`dev/${name}`, '');
}

const usb1 = 'sys/devices/pci0000:00/0000:00:14.0/usb1';
// FTDI FT232R: 1-1 is the USB device, 1-1:1.0 its interface, ttyUSB0 the usb-serial port.
file(`${usb1}/1-1/idVendor`, '0403');
file(`${usb1}/1-1/idProduct`, '6001');
file(`${usb1}/1-1/manufacturer`, 'FTDI');
file(`${usb1}/1-1/product`, 'FT232R USB UART');
file(`${usb1}/1-1/serial`, 'A50285BI');
file(`${usb1}/1-1/1-1:1.0/bInterfaceNumber`, '00');
link(`${usb1}/1-1/1-1:1.0/driver`, 'sys/bus/usb/drivers/ftdi_sio');
link(`${usb1}/1-1/1-1:1.0/ttyUSB0/driver`, 'sys/bus/usb-serial/drivers/ftdi_sio');
tty('ttyUSB0', `${usb1}/1-1/1-1:1.0/ttyUSB0`);
// Arduino Uno: the tty's device is the CDC interface itself.
file(`${usb1}/1-2/idVendor`, '2341');
file(`${usb1}/1-2/idProduct`, '0043');
file(`${usb1}/1-2/manufacturer`, 'Arduino (www.arduino.cc)');
file(`${usb1}/1-2/1-2:1.0/bInterfaceNumber`, '00');
link(`${usb1}/1-2/1-2:1.0/driver`, 'sys/bus/usb/drivers/cdc_acm');
tty('ttyACM0', `${usb1}/1-2/1-2:1.0`);
// An on-board 16550A and an 8250 slot without a UART (type 0), and a virtual console.
link('sys/devices/platform/serial8250/driver', 'sys/bus/platform/drivers/serial8250');
link('sys/devices/platform/serial8250/subsystem', 'sys/bus/platform');
tty('ttyS0', 'sys/devices/platform/serial8250', '4');
tty('ttyS1', 'sys/devices/platform/serial8250', '0');
// A 6.5+ kernel's PC UART: the tty hangs off a serial-base port under a controller under the
// pnp device, whose driver is "serial".
link('sys/devices/pnp0/00:01/driver', 'sys/bus/pnp/drivers/serial');
link('sys/devices/pnp0/00:01/subsystem', 'sys/bus/pnp');
link('sys/devices/pnp0/00:01/00:01:0/subsystem', 'sys/bus/serial-base');
link('sys/devices/pnp0/00:01/00:01:0/00:01:0.0/subsystem', 'sys/bus/serial-base');
link('sys/devices/pnp0/00:01/00:01:0/00:01:0.0/driver', 'sys/bus/serial-base/drivers/port');
tty('ttyS4', 'sys/devices/pnp0/00:01/00:01:0/00:01:0.0', '4');
tty('tty0', undefined);
link('dev/serial/by-id/usb-FTDI_FT232R_USB_UART_A50285BI-if00-port0', 'dev/ttyUSB0');

describe('serial ports from sysfs', () => {
  const opts = { sysfs: path.join(root, 'sys'), dev: path.join(root, 'dev') };

  it('reads USB ids, names, serial number and driver of each adapter', () => {
    const ports = listSerialPorts(opts);
    expect(ports.map((p) => p.name)).toEqual(['ttyACM0', 'ttyS0', 'ttyS4', 'ttyUSB0']);
    const [acm, s0, s4, ftdi] = ports;
    expect(s4).toMatchObject({ bus: 'pnp', driver: 'serial' });
    expect(ftdi).toEqual({
      name: 'ttyUSB0', path: path.join(root, 'dev/ttyUSB0'), bus: 'usb', driver: 'ftdi_sio',
      usb: { vendorId: '0403', productId: '6001', manufacturer: 'FTDI', product: 'FT232R USB UART', serial: 'A50285BI', interface: '00' },
      byId: [path.join(root, 'dev/serial/by-id/usb-FTDI_FT232R_USB_UART_A50285BI-if00-port0')], byPath: [],
    });
    expect(acm).toMatchObject({ bus: 'usb', driver: 'cdc_acm', usb: { vendorId: '2341', productId: '0043', manufacturer: 'Arduino (www.arduino.cc)' } });
    expect(acm.usb?.serial).toBeUndefined();
    expect(s0).toMatchObject({ bus: 'platform', driver: 'serial8250' });
    expect(s0.usb).toBeUndefined();
    expect(formatSerialPort(ftdi)).toMatch(/ttyUSB0\s+usb\s+0403:6001 {2}FTDI FT232R USB UART {2}serial A50285BI {2}interface 00 {2}driver ftdi_sio {2}by-id /);
  });

  it('lists empty 8250 slots and virtual ttys only when asked', () => {
    expect(listSerialPorts({ ...opts, all: true }).map((p) => `${p.name}:${p.bus}`)).toEqual(['tty0:virtual', 'ttyACM0:usb', 'ttyS0:platform', 'ttyS1:platform', 'ttyS4:pnp', 'ttyUSB0:usb']);
  });

  it('answers an empty list where there is no sysfs', () => {
    expect(listSerialPorts({ sysfs: path.join(root, 'nothing') })).toEqual([]);
  });

  it('reads this machine without failing, every port backed by a device', () => {
    const ports = listSerialPorts();
    for (const p of ports) {
      expect(fs.existsSync(`/sys/class/tty/${p.name}/device`)).toBe(true);
      expect(p.bus).not.toBe('virtual');
    }
  });
});
