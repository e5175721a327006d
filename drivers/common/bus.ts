// Half-duplex buses: one per physical path to devices (an RS-485 port, a TCP host:port). Every
// device on a bus, whatever its protocol (Modbus RTU, DL/T 645), shares its pipe and ONE queue:
// one exchange at a time, the inter-frame gap after each, and fair turns between devices by
// the bus time they used, so a dead device's timeouts interleave with its neighbours' requests
// instead of blocking them. The registry is created per agent (builtinDrivers), never module-
// global, so two agents in one process never share a port and two families in one agent do.
import type { Log } from '../../runtime/types.ts';
import { createSerialPipe, createTcpPipe, type Pipe } from './pipes.ts';
import { lineText, type LineSettings } from './port-checks.ts';

export type { LineSettings } from './port-checks.ts';

export type BusAddress = { type: 'serial'; line: LineSettings } | { type: 'tcp'; host: string; port: number; framing: 'mbap' | 'rtu' };

export interface BusMember {
  /** Device id. */
  owner: string;
  family: string;
  /** Silence the device needs between frames; the bus keeps the largest of its members'. */
  gapMs: number;
  log: Log;
}

/** Where the bytes received during an exchange go: the framer of the protocol that owns it. */
export interface Receiver {
  onData(chunk: Buffer): void;
  onDown(err: Error): void;
  /**
   * onData threw (a framer bug or a reply it cannot handle): the receiver resets its framer
   * and fails the exchange in flight as a `protocol` fault of its device. Never throws.
   */
  onFault(err: Error): void;
}

export interface BusStats {
  key: string;
  devices: number;
  queued: number;
  exchanges: number;
  opens: number;
  /** Bytes received while no exchange was in flight (late replies, noise). */
  strayBytes: number;
  /** Framers that threw on received bytes (each a protocol fault of the exchange's device). */
  framerFaults: number;
}

export interface Bus {
  readonly key: string;
  readonly pipe: Pipe;
  /**
   * Run `job` when it is `owner`'s turn; the job has the pipe to itself until it resolves (a
   * read-modify-write is one job), and received bytes go to `rx`. `urgent` puts it ahead of
   * the owner's other queued jobs.
   */
  run<T>(owner: string, rx: Receiver, job: () => Promise<T>, urgent?: boolean): Promise<T>;
  /** Per-protocol state kept with the bus (one framer per family per bus), made on first use. */
  shared<T>(family: string, make: () => T): T;
  gapMs(): number;
  stats(): BusStats;
}

export interface BusHandle {
  bus: Bus;
  /** The device is done with the bus: its queued jobs fail; the last member closes the pipe. */
  release(): Promise<void>;
}

export interface BusRegistry {
  /** Throws BusConflictError when the member cannot share the bus as configured. */
  acquire(addr: BusAddress, member: BusMember): BusHandle;
  keys(): string[];
}

export interface BusRegistryOptions {
  /** Reopen backoff of serial lines after an unplug (default 200 ms .. 5 s). */
  reopen?: { minMs: number; maxMs: number };
}

export class BusConflictError extends Error {
  readonly device: string;
  readonly key: string;
  constructor(device: string, key: string, message: string) {
    super(`device "${device}" on ${key}: ${message}`);
    this.name = 'BusConflictError';
    this.device = device;
    this.key = key;
  }
}

/** Given to a receiver's onDown when its device leaves the bus mid-exchange: not a device fault. */
export class BusCancelled extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BusCancelled';
  }
}

export function busKey(a: BusAddress): string {
  return a.type === 'serial' ? a.line.path : `tcp:${a.host}:${a.port}`;
}

/** Why `b` cannot join a bus opened as `a` (used by `device`), or undefined when it can. */
function conflict(a: BusAddress, b: BusAddress, device: string): string | undefined {
  if (a.type === 'serial' && b.type === 'serial') {
    const [mine, theirs] = [lineText(b.line), lineText(a.line)];
    return mine === theirs ? undefined : `line settings ${mine} differ from device "${device}" (${theirs}); devices on one port share one line`;
  }
  if (a.type === 'tcp' && b.type === 'tcp' && a.framing !== b.framing) return `${b.framing} framing differs from device "${device}" (${a.framing}) on the same connection`;
  return undefined;
}

interface Job {
  owner: string;
  rx: Receiver;
  run(): Promise<void>;
  fail(err: Error): void;
}

function createBus(key: string, pipe: Pipe, route: { rx?: Receiver }, members: Map<string, BusMember>) {
  const queues = new Map<string, Job[]>();
  const sharedState = new Map<string, unknown>();
  let order: string[] = [];
  let turn = 0;
  let busy = false;
  let current: Job | undefined;
  let closed = false;
  const st = { exchanges: 0, strayBytes: 0, framerFaults: 0 };

  // Start-time fair queuing: each device is charged the time its jobs held the bus; the device
  // with pending work and the least charge goes next. An idle device joins at the current virtual
  // time, so idling banks no credit.
  const charge = new Map<string, number>();
  let vclock = 0;
  const next = (): Job | undefined => {
    let best: string | undefined;
    for (let i = 0; i < order.length; i++) {
      const o = order[(turn + i) % order.length];
      if (!queues.get(o)?.length) continue;
      if (best === undefined || (charge.get(o) ?? 0) < (charge.get(best) ?? 0)) best = o;
    }
    if (best === undefined) return undefined;
    turn = (order.indexOf(best) + 1) % order.length;
    vclock = Math.max(vclock, charge.get(best) ?? 0);
    return queues.get(best)!.shift()!;
  };
  const gapMs = () => Math.max(0, ...[...members.values()].map((m) => m.gapMs));

  const pump = (): void => {
    if (busy || closed) return;
    const job = next();
    if (!job) return;
    busy = true;
    st.exchanges++;
    route.rx = job.rx;
    current = job;
    const t0 = performance.now();
    void job.run().finally(() => {
      route.rx = undefined;
      current = undefined;
      if (charge.has(job.owner)) charge.set(job.owner, (charge.get(job.owner) ?? 0) + (performance.now() - t0));
      const release = () => {
        busy = false;
        pump();
      };
      const gap = gapMs();
      if (gap > 0) setTimeout(release, gap);
      else setImmediate(release);
    });
  };

  const bus: Bus = {
    key,
    pipe,
    gapMs,
    run<T>(owner: string, rx: Receiver, job: () => Promise<T>, urgent = false): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        if (closed) return reject(new Error(`port ${key} is closed`));
        if (!members.has(owner)) return reject(new Error(`device "${owner}" is not attached to ${key}`));
        let q = queues.get(owner);
        if (!q) {
          q = [];
          queues.set(owner, q);
          order.push(owner);
        }
        if (!q.length) charge.set(owner, Math.max(charge.get(owner) ?? 0, vclock));
        // A job that throws synchronously must still release the bus.
        const j: Job = { owner, rx, run: () => Promise.resolve().then(job).then(resolve, reject), fail: reject };
        if (urgent) q.unshift(j);
        else q.push(j);
        pump();
      });
    },
    shared<T>(family: string, make: () => T): T {
      if (!sharedState.has(family)) sharedState.set(family, make());
      return sharedState.get(family) as T;
    },
    stats: () => ({
      key,
      devices: members.size,
      queued: [...queues.values()].reduce((n, q) => n + q.length, 0),
      ...st,
      opens: pipe.opens(),
    }),
  };
  return {
    bus,
    st,
    drop(owner: string) {
      const q = queues.get(owner);
      queues.delete(owner);
      charge.delete(owner);
      order = order.filter((o) => o !== owner);
      for (const j of q ?? []) j.fail(new BusCancelled(`device "${owner}" stopped`));
      // Its exchange in flight ends now: a stopping device never waits out a dead device's timeout.
      if (current?.owner === owner) current.rx.onDown(new BusCancelled(`device "${owner}" stopping`));
    },
    async close() {
      closed = true;
      for (const o of [...queues.keys()]) this.drop(o);
      route.rx?.onDown(new BusCancelled(`port ${key} closed`));
      await pipe.close();
    },
  };
}

export function createBusRegistry(opts: BusRegistryOptions = {}): BusRegistry {
  const buses = new Map<string, { addr: BusAddress; members: Map<string, BusMember>; b: ReturnType<typeof createBus> }>();

  const open = (key: string, addr: BusAddress, log: Log) => {
    const members = new Map<string, BusMember>();
    const route: { rx?: Receiver } = {};
    // The serial line adds { port } itself; TCP pipes name host:port in their lines.
    const plog = log;
    let b: ReturnType<typeof createBus> | undefined;
    const deps = {
      log: plog,
      onData(chunk: Buffer) {
        const rx = route.rx;
        if (!rx) {
          b!.st.strayBytes += chunk.length;
          return;
        }
        // A framer that throws must cost its device one protocol fault, not the agent.
        try {
          rx.onData(chunk);
        } catch (err) {
          b!.st.framerFaults++;
          plog.warn({ port: key, err: (err as Error).message }, 'framer failed on received bytes; reset');
          rx.onFault(err instanceof Error ? err : new Error(String(err)));
        }
      },
      onDown: (err: Error) => route.rx?.onDown(err),
    };
    const pipe = addr.type === 'serial'
      ? createSerialPipe({ ...addr.line, reopen: opts.reopen }, deps)
      : createTcpPipe({ host: addr.host, port: addr.port }, deps);
    b = createBus(key, pipe, route, members);
    return { addr, members, b };
  };

  return {
    acquire(addr, member) {
      const key = busKey(addr);
      let entry = buses.get(key);
      if (entry) {
        const why = conflict(entry.addr, addr, [...entry.members.keys()][0]);
        if (why) throw new BusConflictError(member.owner, key, why);
        if (entry.members.has(member.owner)) throw new BusConflictError(member.owner, key, 'device is already attached');
      } else {
        entry = open(key, addr, member.log);
        buses.set(key, entry);
      }
      const e = entry;
      e.members.set(member.owner, member);
      let released = false;
      return {
        bus: e.b.bus,
        async release() {
          if (released) return;
          released = true;
          e.b.drop(member.owner);
          e.members.delete(member.owner);
          if (e.members.size === 0 && buses.get(key) === e) {
            buses.delete(key);
            await e.b.close();
          }
        },
      };
    },
    keys: () => [...buses.keys()],
  };
}
