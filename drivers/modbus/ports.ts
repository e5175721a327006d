// Ports: one per physical path to devices (a serial port, a TCP host:port). Every device on a
// port shares its link and ONE serialized queue; the queue serves devices fairly by the bus
// time they used, one request per turn, so a dead device's timeouts interleave with its
// neighbours' requests instead of blocking them. The registry is created per driver definition (per agent), never
// module-global, so two agents in one process never share a port.
import type { Log } from '../../runtime/types.ts';
import { ModbusError } from './errors.ts';
import { exchangeContext, type ModbusRequest } from './frame.ts';
import { createMbapLink, createRtuLink, type Link, type LinkStats } from './link.ts';
import { createSerialPipe, createTcpPipe } from './pipes.ts';
import type { TransportConfig } from './schema.ts';

export interface PortStats extends LinkStats {
  key: string;
  devices: number;
  queued: number;
  exchanges: number;
}

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

export function portKey(t: TransportConfig): string {
  return t.type === 'rtu' ? `rtu:${t.port}` : `${t.type}:${t.host}:${t.port}`;
}

/** 3.5 character times; fixed 1.75 ms above 19200 baud (Modbus over serial line spec 2.5.1.1). */
export function rtuFrameDelayMs(t: { baudRate: number; dataBits: number; parity: string; stopBits: number }): number {
  if (t.baudRate > 19200) return 1.75;
  const bits = 1 + t.dataBits + (t.parity === 'none' ? 0 : 1) + t.stopBits;
  return (3.5 * bits * 1000) / t.baudRate;
}

interface Job {
  run(link: Link): Promise<void>;
  fail(err: Error): void;
}

function createPort(key: string, link: Link): Port & { drop(owner: string): void; close(): Promise<void>; owners: Set<string> } {
  const queues = new Map<string, Job[]>();
  const owners = new Set<string>();
  let order: string[] = [];
  let turn = 0;
  let busy = false;
  let closed = false;
  let exchanges = 0;

  // Fair queuing by bus time (start-time fair queuing): each device is charged the time its
  // exchanges held the port, and the device with pending work and the least charge goes next.
  // A dead device's timeouts cost it its whole timeout each while a healthy one's replies cost a few
  // ms, so healthy devices get the bus between every two timeouts and never wait behind more
  // than the one exchange in flight. A device that was idle joins at the current virtual time,
  // so idling banks no credit.
  const charge = new Map<string, number>();
  let vclock = 0;
  const next = (): { owner: string; job: Job } | undefined => {
    let best: string | undefined;
    for (let i = 0; i < order.length; i++) {
      const o = order[(turn + i) % order.length];
      if (!queues.get(o)?.length) continue;
      if (best === undefined || (charge.get(o) ?? 0) < (charge.get(best) ?? 0)) best = o;
    }
    if (best === undefined) return undefined;
    turn = (order.indexOf(best) + 1) % order.length;
    vclock = Math.max(vclock, charge.get(best) ?? 0);
    return { owner: best, job: queues.get(best)!.shift()! };
  };

  const pump = (): void => {
    if (busy || closed) return;
    const picked = next();
    if (!picked) return;
    const { owner, job } = picked;
    busy = true;
    exchanges++;
    const t0 = performance.now();
    void job.run(link).finally(() => {
      if (charge.has(owner)) charge.set(owner, (charge.get(owner) ?? 0) + (performance.now() - t0));
      const gap = link.frameDelayMs;
      const release = () => {
        busy = false;
        pump();
      };
      if (gap > 0) setTimeout(release, gap);
      else setImmediate(release);
    });
  };

  return {
    key,
    owners,
    frameDelayMs: link.frameDelayMs,
    run<T>(owner: string, job: (link: Link) => Promise<T>, urgent = false): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        if (closed) return reject(new Error(`port ${key} is closed`));
        let q = queues.get(owner);
        if (!q) {
          q = [];
          queues.set(owner, q);
          order.push(owner);
        }
        if (!q.length) charge.set(owner, Math.max(charge.get(owner) ?? 0, vclock));
        const j: Job = {
          run: (l) => job(l).then(resolve, reject),
          fail: reject,
        };
        if (urgent) q.unshift(j);
        else q.push(j);
        pump();
      });
    },
    drop(owner) {
      const q = queues.get(owner);
      queues.delete(owner);
      charge.delete(owner);
      order = order.filter((o) => o !== owner);
      for (const j of q ?? []) j.fail(new Error(`device "${owner}" stopped`));
    },
    async close() {
      closed = true;
      for (const o of [...queues.keys()]) this.drop(o);
      await link.close();
    },
    stats: () => ({
      key,
      devices: owners.size,
      queued: [...queues.values()].reduce((n, q) => n + q.length, 0),
      exchanges,
      ...link.stats(),
    }),
  };
}

export function createModbusBuses(): ModbusBuses {
  const ports = new Map<string, { port: ReturnType<typeof createPort>; transport: TransportConfig }>();

  const open = (t: TransportConfig, log: Log): Link => {
    const plog = log.child({ port: portKey(t) });
    switch (t.type) {
      case 'tcp':
        return createMbapLink((deps) => createTcpPipe({ host: t.host, port: t.port }, deps), { log: plog });
      case 'rtu-over-tcp':
        return createRtuLink(t.frameDelay ?? 0, (deps) => createTcpPipe({ host: t.host, port: t.port }, deps), { log: plog });
      case 'rtu':
        return createRtuLink(t.frameDelay ?? rtuFrameDelayMs(t), (deps) => createSerialPipe(
          { path: t.port, baudRate: t.baudRate, dataBits: t.dataBits, parity: t.parity, stopBits: t.stopBits }, deps), { log: plog });
    }
  };

  return {
    acquire(transport, owner, log) {
      const key = portKey(transport);
      let entry = ports.get(key);
      if (entry && JSON.stringify(entry.transport) !== JSON.stringify(transport)) {
        throw new Error(`transport ${JSON.stringify(transport)} conflicts with ${JSON.stringify(entry.transport)} already used on ${key} by ${[...entry.port.owners].join(', ')}: devices on one port must use the same settings`);
      }
      if (!entry) {
        entry = { port: createPort(key, open(transport, log)), transport };
        ports.set(key, entry);
      }
      const e = entry;
      e.port.owners.add(owner);
      return {
        port: e.port,
        async release(o) {
          e.port.drop(o);
          e.port.owners.delete(o);
          if (e.port.owners.size === 0 && ports.get(key) === e) {
            ports.delete(key);
            await e.port.close();
          }
        },
      };
    },
    keys: () => [...ports.keys()],
  };
}

/** One request through the port's queue, as `owner`, with the error attributed to the device. */
export async function request(port: Port, owner: string, req: ModbusRequest, timeoutMs: number, urgent = false): Promise<Buffer> {
  try {
    return await port.run(owner, (link) => link.exchange(req, timeoutMs), urgent);
  } catch (err) {
    if (err instanceof ModbusError) throw err.forDevice(owner);
    throw new ModbusError('io', exchangeContext(req, owner), (err as Error).message);
  }
}
