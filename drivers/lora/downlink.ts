// Class-A downlinks: what a write becomes (codec-encoded or raw bytes), the per-device queue,
// the frame (lora-packet: FRMPayload encrypted with AppSKey, MIC with NwkSKey over FCntDown)
// and its radio packet on RX1 of the uplink that opened the window.
//
// Region assumption (EU868 defaults, RP002-1.0.x): RX1 opens RECEIVE_DELAY1 = 1 s after the
// uplink, on the uplink's frequency and data rate (RX1DROffset 0), 14 dBm. Other regions
// (US915's RX1 channel map, AS923's offsets) are not modelled.
import { randomBytes } from 'node:crypto';
import loraPacket from './lorapacket.ts';
import type { PayloadCodec } from './codec-types.ts';
import { msbBytes } from './frames.ts';
import type { Session } from './otaa.ts';
import type { RxMeta, Txpk } from './udp.ts';

export const RECEIVE_DELAY1_US = 1_000_000;
/** EU868 default TX power for RX1 (dBm, at the concentrator). */
export const TX_POWER_DBM = 14;

export interface Downlink {
  id: string;
  point: string;
  fPort: number;
  bytes: Buffer;
  confirmed: boolean;
  queuedAt: number;
}

/** What write() resolves with (the `write` command answers with it). */
export interface DownlinkReceipt {
  status: 'queued';
  id: string;
  fPort: number;
  bytes: number;
  /** Downlinks ahead of this one; one goes out per uplink. */
  ahead: number;
  via: 'semtech' | 'chirpstack';
}

/** A write the device cannot take; the command's error names device and point. */
export class DownlinkError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DownlinkError';
  }
}

const HEX_RE = /^(?:[0-9a-fA-F]{2})*$/;

/**
 * The bytes and port of a write: `{ bytes: "hex", fPort?, confirmed? }` goes out as is; any
 * other value goes to the codec's encodeDownlink as `{ [point]: value }`.
 */
export async function encodeWrite(point: string, value: unknown, codec: PayloadCodec | undefined, defaultPort: number): Promise<{ fPort: number; bytes: Buffer; confirmed: boolean }> {
  if (value && typeof value === 'object' && !Array.isArray(value) && 'bytes' in value) {
    const v = value as { bytes: unknown; fPort?: unknown; confirmed?: unknown };
    if (typeof v.bytes !== 'string' || !HEX_RE.test(v.bytes)) throw new DownlinkError(`bytes must be a hex string like "01ff", got ${JSON.stringify(v.bytes)}`);
    const fPort = v.fPort ?? defaultPort;
    if (typeof fPort !== 'number' || !Number.isInteger(fPort) || fPort < 1 || fPort > 223) throw new DownlinkError(`fPort must be an integer 1-223, got ${JSON.stringify(v.fPort)}`);
    const bytes = Buffer.from(v.bytes, 'hex');
    checkSize(bytes);
    return { fPort, bytes, confirmed: v.confirmed === true };
  }
  if (!codec?.encodeDownlink) throw new DownlinkError('the codec cannot encode downlinks: write { bytes: "<hex>", fPort: <n> } instead');
  const enc = await codec.encodeDownlink({ data: { [point]: value } });
  if (enc.errors?.length) throw new DownlinkError(`codec refused: ${enc.errors.join('; ')}`);
  if (!Array.isArray(enc.bytes) || enc.bytes.some((b) => !Number.isInteger(b) || b < 0 || b > 255)) throw new DownlinkError('codec returned no valid bytes');
  const fPort = enc.fPort ?? defaultPort;
  if (!Number.isInteger(fPort) || fPort < 1 || fPort > 223) throw new DownlinkError(`codec returned fPort ${fPort} (expected 1-223)`);
  const bytes = Buffer.from(enc.bytes);
  checkSize(bytes);
  return { fPort, bytes, confirmed: false };
}

/** EU868 DR0-2 allow 51 bytes of FRMPayload: the smallest safe size without knowing the data rate. */
export const MAX_DOWNLINK_BYTES = 51;
function checkSize(b: Buffer) {
  if (b.length > MAX_DOWNLINK_BYTES) throw new DownlinkError(`${b.length} bytes is more than a downlink carries at every EU868 data rate (${MAX_DOWNLINK_BYTES})`);
}

/** The downlink frame; `d` undefined = an empty frame that only carries ACK for a confirmed uplink. */
export function buildDataDown(s: Session, fcntDown: number, width: 16 | 32, o: { d?: Downlink; ack: boolean; fPending: boolean }): Buffer {
  const devAddr = Buffer.alloc(4);
  devAddr.writeUInt32BE(s.devAddr >>> 0);
  const fctrl = { ADR: false, ACK: o.ack, FPending: o.fPending, ADRACKReq: false };
  const msb = msbBytes(fcntDown, width);
  if (!o.d) {
    // lora-packet builds no frame without FPort: lay out MHDR|DevAddr|FCtrl|FCnt and let it sign.
    const head = Buffer.alloc(8);
    head[0] = 0x60; // Unconfirmed Data Down
    head.writeUInt32LE(s.devAddr >>> 0, 1);
    head[5] = (o.ack ? 0x20 : 0) | (o.fPending ? 0x10 : 0);
    head.writeUInt16LE(fcntDown & 0xffff, 6);
    const p = loraPacket.fromWire(Buffer.concat([head, Buffer.alloc(4)]));
    return Buffer.concat([head, loraPacket.calculateMIC(p, s.nwkSKey, undefined, msb)]);
  }
  const fields = {
    MType: o.d.confirmed ? 'Confirmed Data Down' : 'Unconfirmed Data Down',
    DevAddr: devAddr,
    FCtrl: fctrl,
    FCnt: fcntDown & 0xffff,
    FPort: o.d.fPort,
    payload: o.d.bytes,
  };
  const p = loraPacket.fromFields(fields, s.appSKey, s.nwkSKey, undefined, msb);
  const phy = p.getPHYPayload();
  if (!phy) throw new Error('lora-packet built no downlink');
  return phy;
}

export function rx1Txpk(meta: RxMeta, phy: Buffer): Txpk {
  return {
    imme: false, tmst: (meta.tmst + RECEIVE_DELAY1_US) >>> 0, freq: meta.freq, rfch: 0, powe: TX_POWER_DBM, modu: 'LORA',
    datr: meta.datr, codr: meta.codr, ipol: true, size: phy.length, data: phy.toString('base64'),
  };
}

export const downlinkId = () => randomBytes(6).toString('hex');
