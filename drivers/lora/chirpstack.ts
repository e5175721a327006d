// The other source of LoRaWAN uplinks: a ChirpStack v4 network server on the gateway, read
// through its MQTT integration (`application/<app>/device/<devEUI>/event/up`, JSON). ChirpStack
// already checked MIC and counters and decrypted the payload (`data`, base64) and may have
// decoded it (`object`); the sensor takes it from there like a Semtech uplink. Sensors with the
// same broker URL and user share one MQTT client (per agent, refcounted); downlinks are
// published to `.../command/down` and queued by ChirpStack.
import mqtt, { type MqttClient } from 'mqtt';
import type { Ctx, Log } from '../../runtime/types.ts';

export interface CsRx {
  gateway: string;
  rssi: number;
  snr: number;
}

export interface CsUplink {
  devEui: string;
  applicationId?: string;
  fCnt?: number;
  fPort?: number;
  confirmed: boolean;
  data?: Buffer;
  /** ChirpStack's codec output, when the device profile has one. */
  object?: Record<string, unknown>;
  rx: CsRx[];
  sf?: number;
  bw?: number;
  freq?: number;
}

export interface CsMember {
  id: string;
  devEui: string;
  onUp(u: CsUplink): void;
}

export interface CsSettings {
  url: string;
  application?: string;
  username?: string;
  password?: string;
}

export interface CsStats {
  url: string;
  connected: boolean;
  /** Up-event subscriptions the broker granted since the last connect. */
  subscribed: number;
  messages: number;
  counters: Record<string, number>;
}

export interface CsClient {
  /** Hands a downlink to ChirpStack's queue for the device. */
  publishDown(application: string, devEui: string, d: { fPort: number; data: Buffer; confirmed: boolean }): Promise<void>;
  stats(): CsStats;
}

export interface ChirpstackRegistry {
  acquire(s: CsSettings, m: CsMember, ctx: Ctx): { client: CsClient; release(): Promise<void> };
}

export const upTopic = (application?: string) => `application/${application ?? '+'}/device/+/event/up`;

/** One `event/up` message as ChirpStack v4 sends it (JSON marshalling of integration.UplinkEvent). */
export function parseUplinkEvent(payload: Buffer): CsUplink | { error: 'bad_json' | 'bad_event' } {
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(payload.toString('utf8'));
  } catch {
    return { error: 'bad_json' };
  }
  if (!j || typeof j !== 'object') return { error: 'bad_event' };
  const info = j.deviceInfo as Record<string, unknown> | undefined;
  const devEui = typeof info?.devEui === 'string' ? info.devEui.toLowerCase() : undefined;
  if (!devEui || !/^[0-9a-f]{16}$/.test(devEui)) return { error: 'bad_event' };
  let data: Buffer | undefined;
  if (typeof j.data === 'string' && j.data.length) {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(j.data)) return { error: 'bad_event' };
    data = Buffer.from(j.data, 'base64');
  }
  const rx = (Array.isArray(j.rxInfo) ? j.rxInfo : []).flatMap((r: Record<string, unknown>) =>
    r && typeof r === 'object' ? [{ gateway: String(r.gatewayId ?? ''), rssi: Number(r.rssi ?? -200), snr: Number(r.snr ?? -50) }] : []);
  const lora = ((j.txInfo as Record<string, unknown> | undefined)?.modulation as Record<string, unknown> | undefined)?.lora as Record<string, unknown> | undefined;
  const freq = (j.txInfo as Record<string, unknown> | undefined)?.frequency;
  return {
    devEui,
    ...(typeof info?.applicationId === 'string' && { applicationId: info.applicationId }),
    ...(typeof j.fCnt === 'number' && { fCnt: j.fCnt }),
    ...(typeof j.fPort === 'number' && { fPort: j.fPort }),
    confirmed: j.confirmed === true,
    ...(data && { data }),
    ...(j.object && typeof j.object === 'object' && !Array.isArray(j.object) ? { object: j.object as Record<string, unknown> } : {}),
    rx,
    ...(typeof lora?.spreadingFactor === 'number' && { sf: lora.spreadingFactor }),
    ...(typeof lora?.bandwidth === 'number' && { bw: lora.bandwidth / 1000 }),
    ...(typeof freq === 'number' && { freq }),
  };
}

export function createChirpstackRegistry(): ChirpstackRegistry {
  const clients = new Map<string, ReturnType<typeof openClient>>();
  return {
    acquire(s, m, ctx) {
      const key = `${s.username ?? ''}@${s.url}`;
      let c = clients.get(key);
      if (!c) {
        c = openClient(s, ctx.log.child({ chirpstack: s.url }));
        clients.set(key, c);
      }
      const entry = c;
      try {
        entry.join(m, s.application);
      } catch (err) {
        if (entry.size() === 0 && clients.get(key) === entry) {
          clients.delete(key);
          void entry.close();
        }
        throw err;
      }
      let released = false;
      return {
        client: entry.client,
        async release() {
          if (released) return;
          released = true;
          if (entry.leave(m, s.application) === 0 && clients.get(key) === entry) {
            clients.delete(key);
            await entry.close();
          }
        },
      };
    },
  };
}

function openClient(s: CsSettings, log: Log) {
  const members = new Map<string, CsMember>();
  const topics = new Map<string, number>();
  const counters: Record<string, number> = {};
  let messages = 0;
  let subscribed = 0;
  const count = (r: string) => (counters[r] = (counters[r] ?? 0) + 1);
  const mq: MqttClient = mqtt.connect(s.url, {
    clean: true, reconnectPeriod: 2000, connectTimeout: 10_000,
    writeCache: false, // no 65,536-Buffer packet-id cache (~7 MB) on a gateway
    clientId: `wayside-lora-${Math.random().toString(16).slice(2, 10)}`,
    ...(s.username !== undefined && { username: s.username }),
    ...(s.password !== undefined && { password: s.password }),
  });
  const subscribe = (t: string) =>
    mq.subscribe(t, { qos: 0 }, (err) => {
      if (err) log.warn({ topic: t, err: err.message }, 'chirpstack subscribe failed');
      else subscribed++;
    });
  mq.on('connect', () => {
    log.info('chirpstack MQTT connected');
    subscribed = 0;
    for (const t of topics.keys()) subscribe(t);
  });
  mq.on('error', (err) => log.warn({ err: err.message }, 'chirpstack MQTT error'));
  mq.on('message', (topic, payload) => {
    messages++;
    try {
      if (!topic.endsWith('/event/up')) return count('other_event');
      const u = parseUplinkEvent(payload);
      if ('error' in u) return count(u.error);
      const m = members.get(u.devEui);
      if (!m) return count('unknown_deveui');
      m.onUp(u);
    } catch (err) {
      count('internal');
      log.error({ err: (err as Error).stack ?? String(err) }, 'chirpstack uplink handling failed');
    }
  });

  const client: CsClient = {
    publishDown(application, devEui, d) {
      const body = JSON.stringify({ devEui, confirmed: d.confirmed, fPort: d.fPort, data: d.data.toString('base64') });
      return new Promise((res, rej) => {
        if (!mq.connected) return rej(new Error(`ChirpStack broker ${s.url} is not connected`));
        mq.publish(`application/${application}/device/${devEui}/command/down`, body, { qos: 1 }, (err) => (err ? rej(err) : res()));
      });
    },
    stats: () => ({ url: s.url, connected: mq.connected, subscribed, messages, counters: { ...counters } }),
  };

  return {
    client,
    join(m: CsMember, application?: string) {
      const other = members.get(m.devEui);
      if (other && other !== m) throw new Error(`DevEUI ${m.devEui} of lora device "${m.id}" is already used by "${other.id}" on ${s.url}`);
      members.set(m.devEui, m);
      const t = upTopic(application);
      topics.set(t, (topics.get(t) ?? 0) + 1);
      if (topics.get(t) === 1 && mq.connected) subscribe(t);
    },
    leave(m: CsMember, application?: string): number {
      if (members.get(m.devEui) === m) members.delete(m.devEui);
      const t = upTopic(application);
      const n = (topics.get(t) ?? 1) - 1;
      if (n <= 0) {
        topics.delete(t);
        if (mq.connected) mq.unsubscribe(t);
      } else topics.set(t, n);
      return members.size;
    },
    size: () => members.size,
    close: () => new Promise<void>((r) => mq.end(false, {}, () => r())),
  };
}
