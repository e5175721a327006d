// One LoRa "network" per UDP listener: the socket the packet forwarders (lora_pkt_fwd) talk to,
// shared by every sensor configured with the same `listen`. It answers PUSH_DATA and PULL_DATA,
// remembers each forwarder (its downlink address, its `stat`), routes uplinks to the sensor
// that owns the DevAddr (data) or DevEUI (joins), sends PULL_RESP and matches TX_ACKs. What it
// cannot use is counted per reason and raised as a rate-limited `device.error`, never thrown.
// The registry is per agent (made by loraFamily(), never module-global), refcounted: the last
// sensor to leave closes the socket.
import { createSocket, type Socket } from 'node:dgram';
import { emitEvent } from '../../runtime/events.ts';
import { createLogLimiter } from '../../runtime/log-limit.ts';
import type { Ctx, Log } from '../../runtime/types.ts';
import { parsePhy, type DataFrame, type JoinFrame } from './frames.ts';
import { parseListen } from './schema.ts';
import { parseDatagram, parseRxpk, pullAck, pullResp, pushAck, type RxMeta, type Txpk } from './udp.ts';

/** A sensor as the network sees it. */
export interface Member {
  id: string;
  devEui: string;
  /** A data uplink whose DevAddr is this member's (nothing checked yet beyond structure). */
  onData(f: DataFrame, meta: RxMeta): void;
  /** A JoinRequest naming this member's DevEUI (MIC not checked yet). */
  onJoin(f: JoinFrame, meta: RxMeta): void;
}

export interface ForwarderInfo {
  gateway: string;
  /** Where PULL_RESP goes ("ip:port"), known after its first PULL_DATA. */
  downlink?: string;
  protocol: number;
  pushes: number;
  pulls: number;
  rxpk: number;
  txAcks: number;
  txErrors: number;
  lastPush?: number;
  lastPull?: number;
  /** The forwarder's last `stat` object as sent (time, lati, rxnb, rxok, rxfw, ackr, dwnb, txnb...). */
  stat?: Record<string, unknown>;
  statAt?: number;
}

export interface NetworkStats {
  listen: string;
  /** The bound address (port resolved when 0 was asked). */
  address?: string;
  devices: number;
  datagrams: number;
  /** Radio packets (rxpk) handed to a sensor, before dedup and checks. */
  uplinks: number;
  /** Refused or unusable input by reason (datagram, rxpk, frame and per-sensor check reasons). */
  counters: Record<string, number>;
  forwarders: ForwarderInfo[];
}

export type SendResult = { ok: true; gateway: string } | { ok: false; gateway: string; error: string };

export interface Network {
  readonly listen: string;
  count(reason: string, n?: number): void;
  /** A rate-limited `device.error` (device undefined for input no sensor owns). */
  error(device: string | undefined, kind: string, message: string, detail?: Record<string, unknown>): void;
  /** Points the member's DevAddr at it (undefined: none, before a join). Throws when another sensor has it. */
  setDevAddr(m: Member, addr: number | undefined): void;
  devAddrInUse(addr: number): boolean;
  /** Whether PULL_RESP can reach this forwarder (it sent PULL_DATA). */
  canSend(gateway: string): boolean;
  /** PULL_RESP to the forwarder; `done` once its TX_ACK arrives (or at once for protocol v1, which has none). */
  send(gateway: string, txpk: Txpk, done: (r: SendResult) => void): void;
  stats(): NetworkStats;
  /** The port actually bound. */
  port(): number;
}

export interface NetworkHandle {
  network: Network;
  release(): Promise<void>;
}

export interface ListenerRegistry {
  acquire(listen: string, member: Member, ctx: Ctx): Promise<NetworkHandle>;
  keys(): string[];
}

/** How long a PULL_RESP waits for its TX_ACK before it counts as failed. */
export const TX_ACK_TIMEOUT_MS = 3000;
const MAX_FORWARDERS = 256;

export function createListenerRegistry(opts: { txAckTimeoutMs?: number } = {}): ListenerRegistry {
  const nets = new Map<string, { ready: ReturnType<typeof openNetwork>; refs: number }>();
  return {
    async acquire(listen, member, ctx) {
      let e = nets.get(listen);
      if (!e) {
        const entry: { ready: ReturnType<typeof openNetwork>; refs: number } = { ready: openNetwork(listen, ctx, opts), refs: 0 };
        e = entry;
        nets.set(listen, entry);
        entry.ready.catch(() => {
          if (nets.get(listen) === entry) nets.delete(listen);
        });
      }
      const entry = e;
      entry.refs++;
      let n: Awaited<ReturnType<typeof openNetwork>>;
      try {
        n = await entry.ready;
        n.join(member);
      } catch (err) {
        entry.refs--;
        throw err;
      }
      let released = false;
      return {
        network: n.network,
        async release() {
          if (released) return;
          released = true;
          n.leave(member);
          entry.refs--;
          if (entry.refs === 0 && nets.get(listen) === entry) {
            nets.delete(listen);
            await n.close();
          }
        },
      };
    },
    keys: () => [...nets.keys()],
  };
}

async function openNetwork(listen: string, ctx: Ctx, opts: { txAckTimeoutMs?: number }) {
  const { host, port } = parseListen(listen);
  const log: Log = ctx.log.child({ listen });
  const sock: Socket = createSocket({ type: host.includes(':') ? 'udp6' : 'udp4', reuseAddr: false });
  await new Promise<void>((res, rej) => {
    const onErr = (err: Error) => rej(new Error(`lora listener ${listen}: ${err.message}`, { cause: err }));
    sock.once('error', onErr);
    sock.bind(port, host, () => {
      sock.off('error', onErr);
      res();
    });
  });
  try {
    // Bursts of PUSH_DATA from several forwarders must not overflow the kernel's queue.
    sock.setRecvBufferSize(4 * 1024 * 1024);
  } catch {
    // Capped by net.core.rmem_max; the default still works.
  }
  const byEui = new Map<string, Member>();
  const byAddr = new Map<number, Member>();
  const addrOf = new Map<Member, number>();
  const forwarders = new Map<string, ForwarderInfo & { addr?: { address: string; port: number } }>();
  const counters: Record<string, number> = {};
  const st = { datagrams: 0, uplinks: 0 };
  const pending = new Map<number, { gateway: string; done: (r: SendResult) => void; timer: NodeJS.Timeout }>();
  let token = Math.floor(Math.random() * 0x10000);
  const limiter = createLogLimiter({ max: 1, intervalMs: 10_000, maxKeys: 256 });
  const txAckMs = opts.txAckTimeoutMs ?? TX_ACK_TIMEOUT_MS;
  let closed = false;

  const count = (reason: string, n = 1) => {
    counters[reason] = (counters[reason] ?? 0) + n;
  };
  const error = (device: string | undefined, kind: string, message: string, detail: Record<string, unknown> = {}) => {
    const gate = limiter.take(`${device ?? ''}\u0000${kind}`);
    if (!gate) return;
    try {
      emitEvent(ctx, {
        type: 'device.error', ...(device !== undefined && { device }), severity: 'warning',
        data: { driver: 'lora', kind, message, listen, ...detail, ...(gate.suppressed && { suppressed: gate.suppressed }) },
      });
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'device.error event failed');
    }
  };

  const forwarder = (gateway: string) => {
    let f = forwarders.get(gateway);
    if (!f) {
      if (forwarders.size >= MAX_FORWARDERS) return undefined;
      f = { gateway, protocol: 2, pushes: 0, pulls: 0, rxpk: 0, txAcks: 0, txErrors: 0 };
      forwarders.set(gateway, f);
      log.info({ gateway }, 'packet forwarder seen');
    }
    return f;
  };

  const reply = (b: Buffer, address: string, port: number) => {
    sock.send(b, port, address, (err) => {
      if (err) {
        count('send_failed');
        log.debug({ err: err.message }, 'udp send failed');
      }
    });
  };

  const uplink = (raw: unknown, gateway: string) => {
    const p = parseRxpk(raw, gateway);
    if ('error' in p) return count(p.error);
    const phy = Buffer.from(p.data, 'base64');
    const f = parsePhy(phy);
    if ('error' in f) {
      count(f.error);
      if (f.error === 'malformed_frame') error(undefined, 'malformed_frame', `a ${phy.length}-byte PHYPayload is not a LoRaWAN 1.0 frame`, { gateway });
      return;
    }
    if (f.kind === 'join') {
      const m = byEui.get(f.devEui);
      if (!m) {
        count('unknown_deveui');
        return error(undefined, 'unknown_deveui', `JoinRequest from DevEUI ${f.devEui}, which no lora device has`, { devEui: f.devEui, gateway });
      }
      st.uplinks++;
      return m.onJoin(f, p.meta);
    }
    const m = byAddr.get(f.devAddr);
    if (!m) {
      count('unknown_devaddr');
      const a = hexAddr(f.devAddr);
      return error(undefined, 'unknown_devaddr', `uplink from DevAddr ${a}, which no lora device has`, { devAddr: a, gateway });
    }
    st.uplinks++;
    m.onData(f, p.meta);
  };

  const onMessage = (buf: Buffer, rinfo: { address: string; port: number }) => {
    st.datagrams++;
    const d = parseDatagram(buf);
    if ('error' in d) {
      count(d.error);
      return error(undefined, 'malformed_datagram', `${d.error.replace('_', ' ')} datagram of ${buf.length} bytes from ${rinfo.address}:${rinfo.port}`);
    }
    const version = buf[0];
    const f = forwarder(d.gateway);
    if (!f) return count('too_many_forwarders');
    if (d.type === 'push_data') {
      reply(pushAck(version, d.token), rinfo.address, rinfo.port);
      f.pushes++;
      f.lastPush = ctx.clock.now();
      if (d.stat) {
        f.stat = d.stat;
        f.statAt = f.lastPush;
      }
      for (const r of d.rxpk) {
        f.rxpk++;
        try {
          uplink(r, d.gateway);
        } catch (err) {
          // A bug in one device's path must not take the listener (or the agent) down.
          count('internal');
          log.error({ err: (err as Error).stack ?? String(err) }, 'uplink handling failed');
        }
      }
    } else if (d.type === 'pull_data') {
      reply(pullAck(version, d.token), rinfo.address, rinfo.port);
      f.pulls++;
      f.lastPull = ctx.clock.now();
      f.protocol = version;
      f.addr = { address: rinfo.address, port: rinfo.port };
      f.downlink = `${rinfo.address}:${rinfo.port}`;
    } else {
      const p = pending.get(d.token);
      if (!p || p.gateway !== d.gateway) return count('unknown_tx_ack');
      pending.delete(d.token);
      clearTimeout(p.timer);
      f.txAcks++;
      if (d.txError) f.txErrors++;
      p.done(d.txError ? { ok: false, gateway: d.gateway, error: d.txError } : { ok: true, gateway: d.gateway });
    }
  };

  sock.on('message', (buf, rinfo) => {
    try {
      onMessage(buf, rinfo);
    } catch (err) {
      count('internal');
      log.error({ err: (err as Error).stack ?? String(err) }, 'datagram handling failed');
    }
  });
  sock.on('error', (err) => log.warn({ err: err.message }, 'lora listener socket error'));
  log.info({ address: `${sock.address().address}:${sock.address().port}` }, 'lora listener open');

  const network: Network = {
    listen,
    count,
    error,
    setDevAddr(m, addr) {
      const old = addrOf.get(m);
      if (addr !== undefined) {
        const other = byAddr.get(addr);
        if (other && other !== m) throw new Error(`DevAddr ${hexAddr(addr)} of lora device "${m.id}" is already used by "${other.id}" on ${listen}`);
      }
      if (old !== undefined && byAddr.get(old) === m) byAddr.delete(old);
      addrOf.delete(m);
      if (addr !== undefined) {
        byAddr.set(addr, m);
        addrOf.set(m, addr);
      }
    },
    devAddrInUse: (addr) => byAddr.has(addr),
    canSend: (gateway) => !!forwarders.get(gateway)?.addr,
    send(gateway, txpk, done) {
      const f = forwarders.get(gateway);
      if (!f?.addr || closed) return done({ ok: false, gateway, error: closed ? 'listener closed' : 'forwarder has sent no PULL_DATA' });
      token = (token + 1) & 0xffff;
      const t = token;
      const b = pullResp(f.protocol, t, txpk);
      if (f.protocol >= 2) {
        const old = pending.get(t);
        if (old) {
          clearTimeout(old.timer);
          old.done({ ok: false, gateway: old.gateway, error: 'no TX_ACK' });
        }
        const timer = setTimeout(() => {
          if (pending.get(t)?.timer !== timer) return;
          pending.delete(t);
          count('tx_ack_timeout');
          done({ ok: false, gateway, error: `no TX_ACK within ${txAckMs} ms` });
        }, txAckMs);
        pending.set(t, { gateway, done, timer });
      }
      reply(b, f.addr.address, f.addr.port);
      if (f.protocol < 2) done({ ok: true, gateway });
    },
    stats: () => ({
      listen,
      address: closed ? undefined : `${sock.address().address}:${sock.address().port}`,
      devices: byEui.size,
      datagrams: st.datagrams,
      uplinks: st.uplinks,
      counters: { ...counters },
      forwarders: [...forwarders.values()].map(({ addr: _a, ...f }) => ({ ...f, ...(f.stat && { stat: { ...f.stat } }) })),
    }),
    port: () => sock.address().port,
  };

  return {
    network,
    join(m: Member) {
      const other = byEui.get(m.devEui);
      if (other) throw new Error(`DevEUI ${m.devEui} of lora device "${m.id}" is already used by "${other.id}" on ${listen}`);
      byEui.set(m.devEui, m);
    },
    leave(m: Member) {
      if (byEui.get(m.devEui) === m) byEui.delete(m.devEui);
      network.setDevAddr(m, undefined);
    },
    async close() {
      closed = true;
      for (const [t, p] of pending) {
        clearTimeout(p.timer);
        pending.delete(t);
        p.done({ ok: false, gateway: p.gateway, error: 'listener closed' });
      }
      await new Promise<void>((r) => sock.close(() => r()));
      log.info('lora listener closed');
    },
  };
}

export const hexAddr = (a: number) => (a >>> 0).toString(16).padStart(8, '0');
