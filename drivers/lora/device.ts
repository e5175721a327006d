// One LoRaWAN sensor: its session (ABP keys from config, or the OTAA session it joined), its
// counters (durable, store.ts), its codec, its downlink queue, its health. Uplinks come from
// the shared listener (network.ts: Semtech UDP) or a shared ChirpStack client; either way an
// accepted uplink becomes readings on the bus: one per codec output field (nested fields
// joined with '.'), unit from config, quality good, ts = clock.now(), plus the radio's
// rssi_dbm, snr_db and sf. What a sensor refuses (replay, bad MIC, ...) is counted in its
// health and raised as a rate-limited `device.error`.
import { createHash } from 'node:crypto';
import { emitEvent } from '../../runtime/events.ts';
import type { Ctx, DeviceHealth, DeviceState, Driver, Reading } from '../../runtime/types.ts';
import { WriteRefusedError } from '../common/write.ts';
import type { ChirpstackRegistry, CsClient, CsUplink } from './chirpstack.ts';
import type { CodecLoader } from './codec-loader.ts';
import type { PayloadCodec } from './codec-types.ts';

export type { CodecLoader } from './codec-loader.ts';
import { buildDataDown, downlinkId, DownlinkError, encodeWrite, rx1Txpk, TX_POWER_DBM, type Downlink, type DownlinkReceipt } from './downlink.ts';
import { createDedup, cryptFrm, deviceFCnt, joinMicOk, micOk, nextFCnt, sessionCrypto, type DataFrame, type JoinFrame, type SessionCrypto } from './frames.ts';
import { hexAddr, type ListenerRegistry, type Member, type Network, type NetworkHandle, type NetworkStats } from './network.ts';
import { acceptJoin, allocateDevAddr, DEVNONCE_HISTORY, joinAcceptTxpk, type Session } from './otaa.ts';
import { keyOf, RADIO_POINTS, type LoraConfig } from './schema.ts';
import { openStore, type Store } from './store.ts';
import type { RxMeta } from './udp.ts';


export interface LoraDeps {
  listeners: ListenerRegistry;
  chirpstack: ChirpstackRegistry;
  loadCodec: CodecLoader;
}

export interface DownlinkStatus {
  id: string;
  point: string;
  status: 'queued' | 'sent' | 'failed' | 'acknowledged';
  at: number;
  fPort?: number;
  fcntDown?: number;
  gateway?: string;
  error?: string;
}

export interface LoraHealth extends DeviceHealth {
  lora: {
    devEui: string;
    mode: 'abp' | 'otaa';
    source: 'semtech' | 'chirpstack';
    devAddr?: string;
    joinedAt?: number;
    joins: number;
    fcntUp?: number;
    fcntDown: number;
    lastSeen?: number;
    rssi?: number;
    snr?: number;
    sf?: number;
    freq?: number;
    gateway?: string;
    gateways?: string[];
    battery?: number;
    /** Uplinks accepted (each counted once however many forwarders heard it). */
    uplinks: number;
    /** Extra copies merged into an uplink by the dedup window. */
    copies: number;
    /** Frames of this sensor refused, by reason (replay, bad_mic, fcnt_gap, devnonce_replay, codec_error...). */
    refused: Record<string, number>;
    downlink: { queued: number; sent: number; failed: number; last?: DownlinkStatus };
    state: { writes: number; lastError?: string };
    listener?: NetworkStats;
    chirpstack?: ReturnType<CsClient['stats']>;
  };
}

/** After this many refused frames in a row an online sensor shows degraded. */
const DEGRADED_AFTER = 3;

/**
 * A Driver whose write resolves with the receipt of the queued downlink (runtime's Driver types
 * write as Promise<void>; the devices service may pass the receipt on to the command's answer).
 */
export interface LoraDriver extends Omit<Driver, 'write' | 'health'> {
  /** Resolves once the downlink is queued (see docs/drivers/lora.md, "Downlinks"). */
  write(point: string, value: unknown): Promise<DownlinkReceipt>;
  health(): LoraHealth;
}

export function createLoraDriver(cfg: LoraConfig, ctx: Ctx, deps: LoraDeps): LoraDriver & Driver {
  const log = ctx.log;
  const width = cfg.fcntWidth;
  const joinEui = cfg.joinEui ?? cfg.appEui;
  const abp = cfg.source === 'semtech' && cfg.mode === 'abp';
  const otaa = cfg.source === 'semtech' && cfg.mode === 'otaa';
  // Keys are checked at create so a bad secret names its field at once.
  const abpSession: Session | undefined = abp
    ? { devAddr: parseInt(cfg.devAddr!, 16) >>> 0, nwkSKey: keyOf(cfg, 'nwkSKey', cfg.nwkSKey), appSKey: keyOf(cfg, 'appSKey', cfg.appSKey) }
    : undefined;
  const appKey = otaa ? keyOf(cfg, 'appKey', cfg.appKey) : undefined;
  const identity = abpSession
    ? `abp:${cfg.devAddr}:${fingerprint(abpSession.nwkSKey, abpSession.appSKey)}`
    : otaa ? `otaa:${fingerprint(appKey!)}` : 'chirpstack';

  let session: Session | undefined;
  let sc: SessionCrypto | undefined;
  const setSession = (s: Session | undefined) => {
    session = s;
    sc = s ? sessionCrypto(s.nwkSKey, s.appSKey) : undefined;
  };
  let store: Store | undefined;
  let codec: PayloadCodec | undefined;
  let net: NetworkHandle | undefined;
  let cs: { client: CsClient; release(): Promise<void> } | undefined;
  let running = false;
  let stopping = false;
  let chain: Promise<void> = Promise.resolve();
  let state: DeviceState = 'starting';
  let consecutiveRefusals = 0;
  let errors = 0;
  let readings = 0;
  let lastReadingTs: number | undefined;
  let lastError: string | undefined;
  let lastAppId: string | undefined;
  let lastCsFcnt: number | undefined;
  const refused: Record<string, number> = {};
  const queue: Downlink[] = [];
  let awaitingAck: Downlink | undefined;
  const dl = { sent: 0, failed: 0, last: undefined as DownlinkStatus | undefined };
  const radio: Omit<LoraHealth['lora'], 'devEui' | 'mode' | 'source' | 'fcntDown' | 'refused' | 'downlink' | 'state' | 'uplinks' | 'copies' | 'joins'> = {};
  const st = { uplinks: 0, copies: 0, joins: 0 };
  const dedup = createDedup<RxMeta>(cfg.dedupWindow, (err) => {
    network()?.count('internal');
    log.error({ err: (err as Error)?.stack ?? String(err) }, 'uplink flush failed');
  });

  const network = (): Network | undefined => net?.network;

  const refuse = (reason: string, message: string, detail: Record<string, unknown> = {}, event = true) => {
    refused[reason] = (refused[reason] ?? 0) + 1;
    errors++;
    lastError = `${reason}: ${message}`;
    network()?.count(reason);
    if (++consecutiveRefusals >= DEGRADED_AFTER && state === 'online') state = 'degraded';
    if (!event) return;
    const n = network();
    if (n) n.error(cfg.id, reason, message, detail);
    else limitedError(reason, message, detail);
  };
  // Without a listener (ChirpStack source) errors go through a limiter of the device's own.
  const lastEvent = new Map<string, number>();
  const limitedError = (kind: string, message: string, detail: Record<string, unknown>) => {
    const now = ctx.clock.mono();
    if (now - (lastEvent.get(kind) ?? -Infinity) < 10_000) return;
    lastEvent.set(kind, now);
    emitEvent(ctx, { type: 'device.error', device: cfg.id, severity: 'warning', data: { driver: 'lora', kind, message, ...detail } });
  };

  const reading = (point: string, value: Reading['value'], ts: number, flag: Reading['clock']) => {
    const unit = cfg.points[point]?.unit ?? (point in RADIO_POINTS ? RADIO_POINTS[point as keyof typeof RADIO_POINTS] : undefined);
    const r: Reading = { device: cfg.id, point, value, quality: 'good', ts, ...(unit !== undefined && { unit }), ...(flag && { clock: flag }) };
    readings++;
    lastReadingTs = ts;
    ctx.bus.emit('reading', r);
  };

  const seen = (o: { rssi?: number; snr?: number; sf?: number; freq?: number; gateway?: string; gateways: string[]; fcnt?: number }, join = false) => {
    radio.lastSeen = ctx.clock.now();
    Object.assign(radio, {
      rssi: o.rssi, snr: o.snr, sf: o.sf, freq: o.freq, gateway: o.gateway, gateways: o.gateways,
      ...(o.fcnt !== undefined && { fcntUp: o.fcnt }),
    });
    if (!join) st.uplinks++;
    consecutiveRefusals = 0;
    if (state !== 'stopped') state = 'online';
  };

  const emitRadio = (ts: number, flag: Reading['clock']) => {
    if (radio.rssi !== undefined) reading('rssi_dbm', radio.rssi, ts, flag);
    if (radio.snr !== undefined) reading('snr_db', radio.snr, ts, flag);
    if (radio.sf !== undefined) reading('sf', radio.sf, ts, flag);
  };

  const emitFields = (data: Record<string, unknown>, ts: number, flag: Reading['clock']) => {
    for (const [point, value] of flatten(data)) {
      if (point in RADIO_POINTS) continue; // the radio's own values win
      if (point === 'battery' && typeof value === 'number') radio.battery = value;
      reading(point, value, ts, flag);
    }
  };

  /**
   * Payload -> readings. The codec is async (a worker): calls start at once, so a busy sensor's
   * uplinks are decoded in one batch, and their readings are emitted in uplink order.
   */
  const decode = (payload: Buffer, fPort: number, ts: number, flag: Reading['clock']) => {
    if (!codec) {
      reading('payload', payload.toString('hex'), ts, flag);
      return;
    }
    const pending = Promise.resolve()
      .then(() => codec!.decodeUplink({ bytes: new Uint8Array(payload), fPort, recvTime: new Date(ts) }))
      .then((out) => ({ out }), (err: unknown) => ({ err }));
    chain = chain.then(async () => {
      const r = await pending;
      if ('err' in r) return refuse('codec_error', `codec failed: ${(r.err as Error)?.message ?? String(r.err)}`, { fPort });
      const out = r.out;
      if (out.errors?.length) refuse('codec_error', `codec: ${out.errors.join('; ')}`, { fPort });
      else consecutiveRefusals = 0;
      if (out.warnings?.length) log.debug({ warnings: out.warnings }, 'codec warnings');
      if (out.data && typeof out.data === 'object') emitFields(out.data, ts, flag);
    }).catch((err: unknown) => {
      network()?.count('internal');
      log.error({ err: (err as Error)?.stack ?? String(err) }, 'emitting decoded readings failed');
    });
  };

  // ---- downlinks

  const downlinkEvent = (s: DownlinkStatus) => {
    dl.last = s;
    if (s.status === 'queued') return;
    try {
      emitEvent(ctx, {
        type: 'lora.downlink', device: cfg.id, severity: s.status === 'failed' ? 'warning' : 'info',
        data: { driver: 'lora', ...s },
      });
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'lora.downlink event failed');
    }
  };

  /** RX1 of the uplink just flushed: the head of the queue (or a bare ACK for a confirmed uplink). */
  const sendDownlink = (f: DataFrame, metas: RxMeta[]) => {
    const n = network();
    if (!n || !session || (!queue.length && !f.confirmed)) return;
    const via = [...metas].sort(byRadio).find((m) => n.canSend(m.gateway));
    if (!via) {
      if (queue.length) {
        n.count('no_downlink_path');
        lastError = `no_downlink_path: no forwarder that heard ${cfg.id} has sent PULL_DATA; ${queue.length} downlink(s) wait`;
      }
      return;
    }
    const d = queue.shift();
    const fcntDown = store!.data.fcntDown;
    let phy: Buffer;
    try {
      phy = buildDataDown(session, fcntDown, width, { d, ack: f.confirmed, fPending: queue.length > 0 });
    } catch (err) {
      if (d) {
        dl.failed++;
        downlinkEvent({ id: d.id, point: d.point, status: 'failed', at: ctx.clock.now(), error: `frame: ${(err as Error).message}` });
      }
      return;
    }
    store!.data.fcntDown = fcntDown + 1;
    store!.dirty();
    n.send(via.gateway, rx1Txpk(via, phy), (r) => {
      if (!d) return;
      const base = { id: d.id, point: d.point, at: ctx.clock.now(), fPort: d.fPort, fcntDown, gateway: r.gateway };
      if (r.ok) {
        dl.sent++;
        if (d.confirmed) awaitingAck = d;
        downlinkEvent({ ...base, status: 'sent' });
      } else {
        dl.failed++;
        downlinkEvent({ ...base, status: 'failed', error: r.error });
        log.warn({ id: d.id, err: r.error }, 'downlink failed');
      }
    });
  };

  // ---- Semtech path

  const onData = (f: DataFrame, meta: RxMeta) => {
    if (!running || stopping) return;
    const key = `${f.fcnt16}:${f.mic.toString('hex')}`;
    const o = dedup.offer(key, meta);
    if (o === 'merged') {
      st.copies++;
      return;
    }
    if (o === 'late') return refuse('duplicate_late', `copy of FCnt ${f.fcnt16} arrived after its dedup window`, {}, false);
    const s = session;
    const crypto = sc;
    if (!s || !crypto || !store) return;
    const r = nextFCnt(store.data.fcntUp, f.fcnt16);
    if ('error' in r) {
      const last = store.data.fcntUp;
      return refuse(r.error, r.error === 'replay'
        ? `FCnt ${f.fcnt16} is not above the last accepted ${last} (replay)`
        : `FCnt ${f.fcnt16} is more than 16384 ahead of the last accepted ${last}`, { fcnt: f.fcnt16, last, gateway: meta.gateway });
    }
    if (!micOk(f, crypto, r.full, width)) return refuse('bad_mic', `MIC check failed for FCnt ${f.fcnt16} (wrong NwkSKey or corrupted frame)`, { fcnt: f.fcnt16, gateway: meta.gateway });
    store.data.fcntUp = r.full;
    store.dirty();
    if (f.ack && awaitingAck) {
      const d = awaitingAck;
      awaitingAck = undefined;
      downlinkEvent({ id: d.id, point: d.point, status: 'acknowledged', at: ctx.clock.now(), fPort: d.fPort });
    }
    const payload = f.fPort !== undefined && f.fPort > 0 ? cryptFrm(crypto.app, 0, s.devAddr, deviceFCnt(r.full, width), f.frmPayload) : undefined;
    if (f.fPort === 0) network()?.count('mac_only');
    dedup.add(key, meta, (metas) => {
      const best = metas.reduce((a, b) => (byRadio(a, b) <= 0 ? a : b));
      seen({ rssi: best.rssi, snr: best.lsnr, sf: best.sf, freq: best.freq, gateway: best.gateway, gateways: [...new Set(metas.map((m) => m.gateway))], fcnt: r.full });
      if (!stopping) sendDownlink(f, metas);
      const ts = ctx.clock.now();
      const flag = ctx.clock.flag();
      emitRadio(ts, flag);
      if (payload) decode(payload, f.fPort!, ts, flag);
    });
  };

  const onJoin = (f: JoinFrame, meta: RxMeta) => {
    if (!running || stopping) return;
    if (!otaa || !appKey || !store) return refuse('join_not_otaa', 'JoinRequest from an abp device (set mode: otaa to let it join)');
    const key = `join:${f.devNonce}:${f.mic.toString('hex')}`;
    const o = dedup.offer(key, meta);
    if (o === 'merged') {
      st.copies++;
      return;
    }
    if (o === 'late') return refuse('duplicate_late', 'copy of a JoinRequest arrived after its dedup window', {}, false);
    if (joinEui && f.appEui !== joinEui) return refuse('wrong_join_eui', `JoinRequest names JoinEUI ${f.appEui}, configured ${joinEui}`, { joinEui: f.appEui });
    if (!joinMicOk(f, appKey)) return refuse('bad_join_mic', 'JoinRequest MIC check failed (wrong AppKey?)', { gateway: meta.gateway });
    const nonceHex = f.devNonce.toString(16).padStart(4, '0');
    if (store.data.devNonces.includes(f.devNonce)) return refuse('devnonce_replay', `DevNonce ${nonceHex} was used before: JoinRequest replayed, refused`, { devNonce: nonceHex });
    const n = network()!;
    const netId = Buffer.from(cfg.netId, 'hex');
    const addr = allocateDevAddr(netId, (a) => n.devAddrInUse(a) && a !== session?.devAddr);
    const j = acceptJoin({ appKey, netId, devAddr: addr, devNonce: f.devNonce });
    store.data.devNonces.push(f.devNonce);
    if (store.data.devNonces.length > DEVNONCE_HISTORY) store.data.devNonces.splice(0, store.data.devNonces.length - DEVNONCE_HISTORY);
    n.setDevAddr(member, addr);
    setSession(j.session);
    const joinedAt = ctx.clock.now();
    store.data.session = { devAddr: addr, nwkSKey: j.session.nwkSKey.toString('hex'), appSKey: j.session.appSKey.toString('hex'), joinedAt, appNonce: j.appNonce };
    store.data.fcntUp = undefined;
    store.data.fcntDown = 0;
    store.flush(); // the DevNonce is spent: on disk before the accept goes out
    st.joins++;
    log.info({ devAddr: hexAddr(addr), devNonce: nonceHex }, 'device joined');
    dedup.add(key, meta, (metas) => {
      const best = metas.reduce((a, b) => (byRadio(a, b) <= 0 ? a : b));
      seen({ rssi: best.rssi, snr: best.lsnr, sf: best.sf, freq: best.freq, gateway: best.gateway, gateways: [...new Set(metas.map((m) => m.gateway))] }, true);
      const via = [...metas].sort(byRadio).find((m) => n.canSend(m.gateway));
      if (!via) {
        n.count('no_downlink_path');
        lastError = 'no_downlink_path: JoinAccept not sent: no forwarder that heard the join has sent PULL_DATA';
        return;
      }
      n.send(via.gateway, joinAcceptTxpk(via, j.phy, TX_POWER_DBM), (r) => {
        if (!r.ok) {
          n.count('join_accept_failed');
          lastError = `join_accept_failed: ${r.error}`;
          log.warn({ err: r.error }, 'JoinAccept not transmitted');
        }
      });
    });
  };

  const member: Member = { id: cfg.id, devEui: cfg.devEui, onData, onJoin };

  // ---- ChirpStack path

  const onUp = (u: CsUplink) => {
    if (!running || stopping) return;
    if (u.fCnt !== undefined && u.fCnt === lastCsFcnt) {
      st.copies++; // a redelivered message
      return;
    }
    lastCsFcnt = u.fCnt;
    if (u.applicationId) lastAppId = u.applicationId;
    const rx = [...u.rx].sort((a, b) => b.rssi - a.rssi || b.snr - a.snr);
    seen({ rssi: rx[0]?.rssi, snr: rx[0]?.snr, sf: u.sf, freq: u.freq, gateway: rx[0]?.gateway, gateways: [...new Set(rx.map((r) => r.gateway))], fcnt: u.fCnt });
    const ts = ctx.clock.now();
    const flag = ctx.clock.flag();
    emitRadio(ts, flag);
    if (u.object) emitFields(u.object, ts, flag);
    else if (u.data && u.data.length && u.fPort !== undefined && u.fPort > 0) decode(u.data, u.fPort, ts, flag);
  };

  const health = (): LoraHealth => {
    const listener = network()?.stats();
    return {
      device: cfg.id, driver: 'lora', state, errors, readings,
      ...(lastReadingTs !== undefined && { lastReadingTs }),
      ...(lastError !== undefined && { lastError }),
      errorsByKind: { ...refused },
      lora: {
        devEui: cfg.devEui, mode: cfg.mode, source: cfg.source,
        ...(session && { devAddr: hexAddr(session.devAddr) }),
        ...(store?.data.session && { joinedAt: store.data.session.joinedAt }),
        joins: st.joins,
        ...(store?.data.fcntUp !== undefined && { fcntUp: store.data.fcntUp }),
        fcntDown: store?.data.fcntDown ?? 0,
        ...stripUndefined(radio),
        uplinks: st.uplinks, copies: st.copies,
        refused: { ...refused },
        downlink: { queued: queue.length, sent: dl.sent, failed: dl.failed, ...(dl.last && { last: { ...dl.last } }) },
        state: { writes: store?.writes() ?? 0, ...(store?.lastError() && { lastError: store.lastError() }) },
        ...(listener && { listener }),
        ...(cs && { chirpstack: cs.client.stats() }),
      },
    };
  };

  const driver: LoraDriver = {
    async start() {
      if (running) return;
      stopping = false;
      state = 'starting';
      store ??= openStore(ctx.state, cfg.devEui, identity, log);
      if (abpSession) setSession(abpSession);
      else if (otaa && store.data.session) {
        const s = store.data.session;
        setSession({ devAddr: s.devAddr >>> 0, nwkSKey: Buffer.from(s.nwkSKey, 'hex'), appSKey: Buffer.from(s.appSKey, 'hex') });
      }
      if (cfg.codec && !codec) codec = await deps.loadCodec(cfg.codec, log);
      try {
        if (cfg.source === 'chirpstack') {
          const c = cfg.chirpstack!;
          cs = deps.chirpstack.acquire({ url: c.url, ...(c.application && { application: c.application }), ...(c.username && { username: c.username }), ...(c.password && { password: c.password }) }, { id: cfg.id, devEui: cfg.devEui, onUp }, ctx);
        } else {
          net = await deps.listeners.acquire(cfg.listen, member, ctx);
          try {
            net.network.setDevAddr(member, session?.devAddr);
          } catch (err) {
            await net.release();
            net = undefined;
            throw err;
          }
        }
      } catch (err) {
        await codec?.close().catch(() => {});
        codec = undefined;
        throw err;
      }
      running = true;
      log.info({ devEui: cfg.devEui, source: cfg.source, mode: cfg.mode, ...(session && { devAddr: hexAddr(session.devAddr) }), listen: cfg.listen }, 'lora device started');
    },

    async stop() {
      if (!running) {
        state = 'stopped';
        return;
      }
      stopping = true;
      // Uplinks inside their dedup window are flushed now (readings, no downlink): none lost.
      dedup.drain();
      await chain;
      running = false;
      await net?.release();
      net = undefined;
      await cs?.release();
      cs = undefined;
      await codec?.close().catch((err) => log.warn({ err: (err as Error).message }, 'codec close failed'));
      codec = undefined;
      store?.close();
      store = undefined;
      state = 'stopped';
    },

    health,

    async write(point, value) {
      if (point !== 'downlink' && !cfg.points[point]?.writable) {
        throw new WriteRefusedError('lora', cfg.id, point, cfg.points[point] || point in RADIO_POINTS || point === 'payload'
          ? `not writable (${cfg.points[point] ? 'set writable: true under points to send it down' : 'radio metadata and payloads are read-only'})`
          : `no such point (writable: ${['downlink', ...Object.keys(cfg.points).filter((p) => cfg.points[p].writable)].join(', ')})`);
      }
      if (point === 'downlink' && !(value && typeof value === 'object' && 'bytes' in value)) {
        throw new WriteRefusedError('lora', cfg.id, point, 'takes { bytes: "<hex>", fPort: <1-223>, confirmed?: true }');
      }
      if (!running) throw new WriteRefusedError('lora', cfg.id, point, 'device is not running');
      if (queue.length >= cfg.downlinkQueue) throw new WriteRefusedError('lora', cfg.id, point, `downlink queue full (${queue.length} waiting for the sensor's next uplink)`);
      let enc: Awaited<ReturnType<typeof encodeWrite>>;
      try {
        enc = await encodeWrite(point, value, codec, cfg.fPort);
      } catch (err) {
        if (err instanceof DownlinkError) throw new WriteRefusedError('lora', cfg.id, point, err.message);
        throw err;
      }
      const d: Downlink = { id: downlinkId(), point, ...enc, queuedAt: ctx.clock.now() };
      if (cs) {
        const app = cfg.chirpstack?.application ?? lastAppId;
        if (!app) throw new WriteRefusedError('lora', cfg.id, point, 'ChirpStack application id unknown until the first uplink (set chirpstack.application)');
        await cs.client.publishDown(app, cfg.devEui, { fPort: d.fPort, data: d.bytes, confirmed: d.confirmed });
        downlinkEvent({ id: d.id, point, status: 'queued', at: d.queuedAt, fPort: d.fPort });
        return { status: 'queued', id: d.id, fPort: d.fPort, bytes: d.bytes.length, ahead: 0, via: 'chirpstack' };
      }
      queue.push(d);
      downlinkEvent({ id: d.id, point, status: 'queued', at: d.queuedAt, fPort: d.fPort });
      log.info({ id: d.id, point, fPort: d.fPort, bytes: d.bytes.length, ahead: queue.length - 1 }, 'downlink queued for the next uplink');
      return { status: 'queued', id: d.id, fPort: d.fPort, bytes: d.bytes.length, ahead: queue.length - 1, via: 'semtech' };
    },
  };
  return driver as LoraDriver & Driver;
}

/** Best radio first: higher RSSI, then higher SNR. */
function byRadio(a: RxMeta, b: RxMeta): number {
  return b.rssi - a.rssi || b.lsnr - a.lsnr;
}

function fingerprint(...keys: Buffer[]): string {
  const h = createHash('sha256');
  for (const k of keys) h.update(k);
  return h.digest('hex').slice(0, 16);
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Codec output -> [point, value]: nested objects and arrays joined with '.', numbers/booleans/strings kept, the rest skipped. */
export function flatten(data: Record<string, unknown>, prefix = '', out: [string, Reading['value']][] = [], depth = 0): [string, Reading['value']][] {
  for (const [k, v] of Object.entries(data)) {
    const name = prefix ? `${prefix}.${k}` : k;
    if (typeof v === 'number') {
      if (Number.isFinite(v)) out.push([name, v]);
    } else if (typeof v === 'boolean' || typeof v === 'string') out.push([name, v]);
    else if (v && typeof v === 'object' && depth < 8) flatten(v as Record<string, unknown>, name, out, depth + 1);
  }
  return out;
}
