// Semtech's UDP packet-forwarder protocol (lora_pkt_fwd, PROTOCOL.TXT v2), both directions, as
// pure functions: parse a datagram from a forwarder into what it says, build the acks and the
// PULL_RESP that carries a downlink. Nothing here throws on input: a datagram that is not the
// protocol comes back as { error: reason } so the listener can count it.
//
//   forwarder -> us: PUSH_DATA (0x00, uplinks `rxpk` + `stat`), PULL_DATA (0x02, keep-alive that
//                    opens the downlink path), TX_ACK (0x05, the fate of a PULL_RESP)
//   us -> forwarder: PUSH_ACK (0x01), PULL_ACK (0x04), PULL_RESP (0x03, `txpk`)

export const PUSH_DATA = 0x00;
export const PUSH_ACK = 0x01;
export const PULL_DATA = 0x02;
export const PULL_RESP = 0x03;
export const PULL_ACK = 0x04;
export const TX_ACK = 0x05;

/** Largest datagram looked at; lora_pkt_fwd's own buffer is 4 KiB (a few rxpk). Larger ones are counted, not parsed. */
export const MAX_DATAGRAM = 16 * 1024;

/** Reasons a datagram is refused; each is a counter of the listener. */
export type DatagramError = 'too_short' | 'bad_version' | 'unknown_type' | 'too_large' | 'bad_json';

/** One received radio packet as the forwarder reports it (rxpk), plus which forwarder. */
export interface RxMeta {
  gateway: string;
  /** Concentrator counter in µs (wraps at 2^32): the downlink time base. */
  tmst: number;
  freq: number;
  /** "SF7BW125" */
  datr: string;
  codr: string;
  rssi: number;
  lsnr: number;
  sf?: number;
  bw?: number;
  rfch: number;
  /** RF chain / antenna time, as given (ISO), if the forwarder has GPS. */
  time?: string;
}

export interface RxPacket {
  meta: RxMeta;
  /** base64 as received; decoded by the listener (so garbage is counted there). */
  data: string;
  /** CRC status: 1 ok, -1 bad, 0 none. */
  stat: number;
  size?: number;
}

export type Datagram =
  | { type: 'push_data'; token: number; gateway: string; rxpk: unknown[]; stat?: Record<string, unknown>; json: boolean }
  | { type: 'pull_data'; token: number; gateway: string }
  | { type: 'tx_ack'; token: number; gateway: string; txError?: string };

const HEADER = 12; // version, token(2), id, gateway EUI(8)

export function parseDatagram(buf: Buffer): Datagram | { error: DatagramError } {
  if (buf.length > MAX_DATAGRAM) return { error: 'too_large' };
  if (buf.length < 4) return { error: 'too_short' };
  if (buf[0] !== 1 && buf[0] !== 2) return { error: 'bad_version' };
  const token = buf.readUInt16BE(1);
  const id = buf[3];
  if (id !== PUSH_DATA && id !== PULL_DATA && id !== TX_ACK) return { error: 'unknown_type' };
  if (buf.length < HEADER) return { error: 'too_short' };
  const gateway = buf.toString('hex', 4, 12);
  if (id === PULL_DATA) return { type: 'pull_data', token, gateway };
  const body = buf.subarray(HEADER);
  if (id === TX_ACK) {
    // v1 forwarders send no body; v2 an optional {"txpk_ack":{"error":"NONE"|...}}.
    if (body.length === 0 || (body.length === 1 && body[0] === 0)) return { type: 'tx_ack', token, gateway };
    const j = parseJson(body);
    if (j === undefined) return { error: 'bad_json' };
    const ack = (j as { txpk_ack?: { error?: unknown } }).txpk_ack;
    const error = typeof ack?.error === 'string' && ack.error !== 'NONE' ? ack.error : undefined;
    return { type: 'tx_ack', token, gateway, ...(error ? { txError: error } : {}) };
  }
  const j = parseJson(body);
  if (j === undefined) return { error: 'bad_json' };
  const o = j as { rxpk?: unknown; stat?: unknown };
  return {
    type: 'push_data', token, gateway,
    rxpk: Array.isArray(o.rxpk) ? o.rxpk : [],
    ...(o.stat && typeof o.stat === 'object' && !Array.isArray(o.stat) ? { stat: o.stat as Record<string, unknown> } : {}),
    json: true,
  };
}

function parseJson(body: Buffer): unknown {
  // Some forwarders end the JSON with a NUL.
  const end = body.length && body[body.length - 1] === 0 ? body.length - 1 : body.length;
  try {
    const v = JSON.parse(body.toString('utf8', 0, end));
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

const DATR_RE = /^SF(\d{1,2})BW(\d{2,3})$/;
const B64_RE = /^[A-Za-z0-9+/]*={0,2}$/;

/** Why an rxpk entry is unusable, or the packet. */
export function parseRxpk(x: unknown, gateway: string): RxPacket | { error: 'bad_rxpk' | 'bad_base64' | 'crc_bad' | 'not_lora' } {
  if (!x || typeof x !== 'object') return { error: 'bad_rxpk' };
  const r = x as Record<string, unknown>;
  if (r.modu !== undefined && r.modu !== 'LORA') return { error: 'not_lora' };
  const stat = typeof r.stat === 'number' ? r.stat : 1;
  if (stat === -1) return { error: 'crc_bad' };
  if (typeof r.data !== 'string' || typeof r.tmst !== 'number' || typeof r.freq !== 'number' || typeof r.datr !== 'string') return { error: 'bad_rxpk' };
  if (r.data.length === 0 || r.data.length % 4 === 1 || !B64_RE.test(r.data)) return { error: 'bad_base64' };
  // v2 multi-antenna forwarders put rssi/lsnr per antenna in rsig[].
  const rsig = Array.isArray(r.rsig) ? (r.rsig[0] as Record<string, unknown> | undefined) : undefined;
  const rssi = num(r.rssi) ?? num(rsig?.rssic) ?? num(rsig?.rssis);
  const lsnr = num(r.lsnr) ?? num(rsig?.lsnr);
  const m = DATR_RE.exec(r.datr);
  return {
    data: r.data,
    stat,
    ...(typeof r.size === 'number' && { size: r.size }),
    meta: {
      gateway,
      tmst: r.tmst >>> 0,
      freq: r.freq,
      datr: r.datr,
      codr: typeof r.codr === 'string' ? r.codr : '4/5',
      rssi: rssi ?? -200,
      lsnr: lsnr ?? -50,
      rfch: typeof r.rfch === 'number' ? r.rfch : 0,
      ...(m && { sf: Number(m[1]), bw: Number(m[2]) }),
      ...(typeof r.time === 'string' && { time: r.time }),
    },
  };
}

const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

function header(version: number, token: number, id: number): Buffer {
  return Buffer.from([version, (token >> 8) & 0xff, token & 0xff, id]);
}

export const pushAck = (version: number, token: number) => header(version, token, PUSH_ACK);
export const pullAck = (version: number, token: number) => header(version, token, PULL_ACK);

/** A downlink for the concentrator (PROTOCOL.TXT §6, `txpk`). */
export interface Txpk {
  imme?: boolean;
  tmst?: number;
  freq: number;
  rfch: number;
  powe: number;
  modu: 'LORA';
  datr: string;
  codr: string;
  ipol: boolean;
  size: number;
  data: string;
  ncrc?: boolean;
}

export function pullResp(version: number, token: number, txpk: Txpk): Buffer {
  // Protocol v1 PULL_RESP carries no token (zeros); v2 uses it to match the TX_ACK.
  return Buffer.concat([header(version, version >= 2 ? token : 0, PULL_RESP), Buffer.from(JSON.stringify({ txpk }))]);
}
