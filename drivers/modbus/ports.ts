// Modbus ports over the shared buses (drivers/common/bus.ts): a device acquires the bus of its
// transport (a serial port may also carry DL/T 645 meters) and runs its exchanges through the
// bus's fair queue with the one Modbus link (RTU or MBAP framing) kept on that bus.
import type { Log } from '../../runtime/types.ts';
import { BusCancelled, createBusRegistry, type Bus, type BusAddress, type BusRegistry, type BusStats } from '../common/bus.ts';
import { ModbusError } from './errors.ts';
import { exchangeContext, type ModbusRequest } from './frame.ts';
import { createMbapLink, createRtuLink, type Link, type LinkStats } from './link.ts';
import type { TransportConfig } from './schema.ts';

export interface PortStats extends LinkStats, BusStats {}

export interface Port {
  readonly key: string;
  readonly frameDelayMs: number;
  /**
   * Run `job` when it is `owner`'s turn; the job has the link to itself until it resolves (a
   * read-modify-write is one job). `urgent` puts it ahead of the owner's other queued jobs.
   */
  run<T>(owner: string, job: (link: Link) => Promise<T>, urgent?: boolean): Promise<T>;
  stats(): PortStats;
}

export interface PortHandle {
  port: Port;
  /** The device is done with the port; the last one closes it. Queued jobs of `owner` fail. */
  release(owner: string): Promise<void>;
}

export interface ModbusBuses {
  acquire(transport: TransportConfig, owner: string, log: Log): PortHandle;
  /** Open ports (for tests and health). */
  keys(): string[];
}

/** Where a transport's bytes go: devices with equal keys share one bus (and one queue). */
export function busAddress(t: TransportConfig): BusAddress {
  if (t.type === 'rtu') return { type: 'serial', line: { path: t.port, baudRate: t.baudRate, dataBits: t.dataBits, parity: t.parity, stopBits: t.stopBits } };
  return { type: 'tcp', host: t.host, port: t.port, framing: t.type === 'tcp' ? 'mbap' : 'rtu' };
}

/** 3.5 character times; fixed 1.75 ms above 19200 baud (Modbus over serial line spec 2.5.1.1). */
export function rtuFrameDelayMs(t: { baudRate: number; dataBits: number; parity: string; stopBits: number }): number {
  if (t.baudRate > 19200) return 1.75;
  const bits = 1 + t.dataBits + (t.parity === 'none' ? 0 : 1) + t.stopBits;
  return (3.5 * bits * 1000) / t.baudRate;
}

function frameDelay(t: TransportConfig): number {
  if (t.type === 'tcp') return 0;
  if (t.type === 'rtu-over-tcp') return t.frameDelay ?? 0;
  return t.frameDelay ?? rtuFrameDelayMs(t);
}

function modbusPort(bus: Bus, t: TransportConfig): Port {
  const link = bus.shared('modbus', () => (t.type === 'tcp' ? createMbapLink(bus.pipe) : createRtuLink(frameDelay(t), bus.pipe)));
  return {
    key: bus.key,
    frameDelayMs: link.frameDelayMs,
    run: (owner, job, urgent) => bus.run(owner, link.receiver, () => job(link), urgent),
    stats: () => ({ ...link.stats(), ...bus.stats() }),
  };
}

/** Modbus ports over `registry` (the agent's, shared with other families; a fresh one alone). */
export function createModbusBuses(registry: BusRegistry = createBusRegistry()): ModbusBuses {
  return {
    acquire(transport, owner, log) {
      const h = registry.acquire(busAddress(transport), { owner, family: 'modbus', gapMs: frameDelay(transport), log });
      return { port: modbusPort(h.bus, transport), release: () => h.release() };
    },
    keys: () => registry.keys(),
  };
}

/** One request through the port's queue, as `owner`, with the error attributed to the device. */
export async function request(port: Port, owner: string, req: ModbusRequest, timeoutMs: number, urgent = false): Promise<Buffer> {
  try {
    return await port.run(owner, (link) => link.exchange(req, timeoutMs), urgent);
  } catch (err) {
    if (err instanceof ModbusError) throw err.forDevice(owner);
    const why = err instanceof BusCancelled ? `cancelled: ${err.message}` : (err as Error).message;
    throw new ModbusError('io', exchangeContext(req, owner), why);
  }
}
