// A Semtech UDP packet forwarder for tests (what lora_pkt_fwd does on the wire, written from
// PROTOCOL.TXT): a real UDP socket on 127.0.0.1 that sends PUSH_DATA with rxpk/stat and
// PULL_DATA, waits for their acks, collects PULL_RESP downlinks and answers each with TX_ACK
// (its error field settable). Also sends raw bytes, for malformed-datagram tests.
import { createSocket, type Socket } from 'node:dgram';
import { waitFor } from '../../helpers/wait.ts';

export interface PullResp {
  token: number;
  txpk: { tmst?: number; freq: number; datr: string; codr: string; ipol: boolean; powe: number; size: number; data: string; imme?: boolean; rfch: number; modu: string };
  phy: Buffer;
}

export interface RxOpts {
  rssi?: number;
  lsnr?: number;
  tmst?: number;
  freq?: number;
  datr?: string;
  stat?: number;
}

export interface Forwarder {
  eui: string;
  version: number;
  /** PULL_RESPs received, in order. */
  pullResps: PullResp[];
  /** Acks received by type id (1 PUSH_ACK, 4 PULL_ACK) and token. */
  acks: { id: number; token: number }[];
  /** TX_ACK answer: an error string ("NONE" = ok, "TOO_LATE", ...) or null to send none. */
  txAckError: string | null;
  push(body: Record<string, unknown>): Promise<void>;
  uplink(phy: Buffer, o?: RxOpts): Promise<void>;
  pull(): Promise<void>;
  raw(b: Buffer): Promise<void>;
  close(): Promise<void>;
}

export async function startForwarder(target: number, eui: string, version = 2): Promise<Forwarder> {
  const sock: Socket = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  let token = 1;
  const f: Forwarder = {
    eui, version, pullResps: [], acks: [], txAckError: 'NONE',
    async push(body) {
      const t = token++ & 0xffff;
      await send(Buffer.concat([head(version, t, 0x00, eui), Buffer.from(JSON.stringify(body))]));
      await waitFor(() => f.acks.some((a) => a.id === 1 && a.token === t), `PUSH_ACK ${t}`, 5000);
    },
    async uplink(phy, o = {}) {
      await f.push({
        rxpk: [{
          tmst: o.tmst ?? 1_000_000, chan: 0, rfch: 0, freq: o.freq ?? 868.1, stat: o.stat ?? 1, modu: 'LORA', datr: o.datr ?? 'SF7BW125',
          codr: '4/5', rssi: o.rssi ?? -60, lsnr: o.lsnr ?? 9.5, size: phy.length, data: phy.toString('base64'),
        }],
      });
    },
    async pull() {
      const t = token++ & 0xffff;
      await send(head(version, t, 0x02, eui));
      await waitFor(() => f.acks.some((a) => a.id === 4 && a.token === t), `PULL_ACK ${t}`, 5000);
    },
    raw: (b) => send(b),
    close: () => new Promise<void>((r) => sock.close(() => r())),
  };
  const send = (b: Buffer) => new Promise<void>((res, rej) => sock.send(b, target, '127.0.0.1', (err) => (err ? rej(err) : res())));
  sock.on('message', (b) => {
    if (b.length < 4) return;
    const t = b.readUInt16BE(1);
    const id = b[3];
    if (id === 0x01 || id === 0x04) f.acks.push({ id, token: t });
    if (id === 0x03) {
      const txpk = JSON.parse(b.subarray(4).toString()).txpk as PullResp['txpk'];
      f.pullResps.push({ token: t, txpk, phy: Buffer.from(txpk.data, 'base64') });
      if (f.txAckError !== null) {
        const body = f.txAckError === 'NONE' && version === 2 ? '{"txpk_ack":{"error":"NONE"}}' : JSON.stringify({ txpk_ack: { error: f.txAckError } });
        void send(Buffer.concat([head(version, t, 0x05, eui), Buffer.from(body)])).catch(() => {});
      }
    }
  });
  return f;
}

function head(version: number, token: number, id: number, eui: string): Buffer {
  return Buffer.concat([Buffer.from([version, token >> 8, token & 0xff, id]), Buffer.from(eui, 'hex')]);
}
