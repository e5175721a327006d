// A Modbus RTU device that listens at one baud rate, behind a socat pty pair. A pty carries bytes
// whatever speed its ends are set to, so no wrong baud rate can garble anything here: this stand-
// in reads the line speed the master set on its end (`stty -F`, the termios of that pty) and
// stays silent unless it is the device's, as a device at 9600 baud does on a real RS-485 line
// when the master talks at 19200. The responder itself is the suite's RTU simulator.
import { execFileSync } from 'node:child_process';
import { startRtuSim, type Images, type RtuSim } from '../modbus/sim.ts';

/** The speed (baud) set on a serial device's termios. */
export function lineSpeed(path: string): number {
  return Number(execFileSync('stty', ['-F', path, 'speed'], { encoding: 'utf8' }).trim());
}

/** An RTU device at `baudRate` on `deviceSide`, answering only when the master's end (`masterSide`) runs at that speed. */
export async function startBaudBoundRtuSim(masterSide: string, deviceSide: string, baudRate: number, images: Images): Promise<RtuSim> {
  const sim = await startRtuSim(deviceSide, baudRate, images);
  sim.mutate((response) => (lineSpeed(masterSide) === baudRate ? response : null));
  return sim;
}
