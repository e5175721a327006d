// The tests' own LoRaWAN 1.0.x crypto, written from the specification with node:crypto only
// (AES-128 ECB as the block cipher, AES-CMAC per RFC 4493, the FRMPayload keystream of
// LoRaWAN 1.0.x §4.3.3), never with lora-packet: what the driver decodes is checked against an
// independent implementation. Plays the end device: builds uplinks and JoinRequests, opens
// downlinks and JoinAccepts, derives session keys.
import { createCipheriv, createDecipheriv } from 'node:crypto';

export function aesEncrypt(key: Buffer, block: Buffer): Buffer {
  const c = createCipheriv('aes-128-ecb', key, null);
  c.setAutoPadding(false);
  return Buffer.concat([c.update(block), c.final()]);
}

export function aesDecrypt(key: Buffer, block: Buffer): Buffer {
  const d = createDecipheriv('aes-128-ecb', key, null);
  d.setAutoPadding(false);
  return Buffer.concat([d.update(block), d.final()]);
}

/** Doubling in GF(2^128), RFC 4493 subkey generation. */
function dbl(b: Buffer): Buffer {
  const out = Buffer.alloc(16);
  for (let i = 0; i < 16; i++) out[i] = ((b[i] << 1) | (i < 15 ? b[i + 1] >> 7 : 0)) & 0xff;
  if (b[0] & 0x80) out[15] ^= 0x87;
  return out;
}

/** AES-CMAC (RFC 4493), full 16 bytes. */
export function cmac(key: Buffer, msg: Buffer): Buffer {
  const k1 = dbl(aesEncrypt(key, Buffer.alloc(16)));
  const k2 = dbl(k1);
  const n = Math.max(1, Math.ceil(msg.length / 16));
  const complete = msg.length > 0 && msg.length % 16 === 0;
  const last = Buffer.alloc(16);
  const tail = msg.subarray((n - 1) * 16);
  tail.copy(last);
  if (complete) for (let i = 0; i < 16; i++) last[i] ^= k1[i];
  else {
    last[tail.length] = 0x80;
    for (let i = 0; i < 16; i++) last[i] ^= k2[i];
  }
  let x: Buffer = Buffer.alloc(16);
  for (let b = 0; b < n - 1; b++) {
    const y = Buffer.alloc(16);
    for (let i = 0; i < 16; i++) y[i] = x[i] ^ msg[b * 16 + i];
    x = aesEncrypt(key, y);
  }
  for (let i = 0; i < 16; i++) last[i] ^= x[i];
  return aesEncrypt(key, last);
}

const u32le = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
};

/** FRMPayload keystream XOR (encryption and decryption are the same operation). dir 0 up, 1 down. */
export function cryptPayload(key: Buffer, dir: 0 | 1, devAddr: number, fcnt: number, data: Buffer): Buffer {
  const out = Buffer.alloc(data.length);
  for (let blk = 0; blk * 16 < data.length; blk++) {
    const a = Buffer.concat([Buffer.from([0x01, 0, 0, 0, 0, dir]), u32le(devAddr), u32le(fcnt), Buffer.from([0x00, blk + 1])]);
    const s = aesEncrypt(key, a);
    for (let i = 0; i < 16 && blk * 16 + i < data.length; i++) out[blk * 16 + i] = data[blk * 16 + i] ^ s[i];
  }
  return out;
}

function dataMic(key: Buffer, dir: 0 | 1, devAddr: number, fcnt: number, msg: Buffer): Buffer {
  const b0 = Buffer.concat([Buffer.from([0x49, 0, 0, 0, 0, dir]), u32le(devAddr), u32le(fcnt), Buffer.from([0x00, msg.length])]);
  return cmac(key, Buffer.concat([b0, msg])).subarray(0, 4);
}

export interface DataUp {
  devAddr: number;
  /** The device's counter: the full 32-bit value for a 32-bit device, 0..65535 for a 16-bit one. */
  fcnt: number;
  fPort?: number;
  payload?: Buffer;
  nwkSKey: Buffer;
  appSKey: Buffer;
  confirmed?: boolean;
  adr?: boolean;
  /** Acknowledges the last confirmed downlink. */
  ack?: boolean;
  /** Plain MAC commands in FOpts (at most 15 bytes). */
  fOpts?: Buffer;
}

/** A complete uplink PHYPayload: MHDR | DevAddr | FCtrl | FCnt | FOpts | FPort | FRMPayload | MIC. */
export function buildDataUp(f: DataUp): Buffer {
  const fOpts = f.fOpts ?? Buffer.alloc(0);
  const fctrl = (f.adr ? 0x80 : 0) | (f.ack ? 0x20 : 0) | fOpts.length;
  const fcnt16 = Buffer.alloc(2);
  fcnt16.writeUInt16LE(f.fcnt & 0xffff);
  const parts = [Buffer.from([f.confirmed ? 0x80 : 0x40]), u32le(f.devAddr), Buffer.from([fctrl]), fcnt16, fOpts];
  if (f.fPort !== undefined) {
    const key = f.fPort === 0 ? f.nwkSKey : f.appSKey;
    parts.push(Buffer.from([f.fPort]), cryptPayload(key, 0, f.devAddr, f.fcnt, f.payload ?? Buffer.alloc(0)));
  }
  const msg = Buffer.concat(parts);
  return Buffer.concat([msg, dataMic(f.nwkSKey, 0, f.devAddr, f.fcnt, msg)]);
}

export interface DataDown {
  mtype: 'unconfirmed' | 'confirmed';
  devAddr: number;
  fcnt16: number;
  ack: boolean;
  fPending: boolean;
  fPort?: number;
  payload: Buffer;
  micOk: boolean;
}

/** Opens a downlink as the device would; `fcntHigh` is the upper 16 bits the device expects (0 for 16-bit devices). */
export function openDataDown(phy: Buffer, k: { nwkSKey: Buffer; appSKey: Buffer }, fcntHigh = 0): DataDown {
  const mhdr = phy[0] >> 5;
  if (mhdr !== 3 && mhdr !== 5) throw new Error(`not a data downlink (MType ${mhdr})`);
  const devAddr = phy.readUInt32LE(1);
  const fctrl = phy[5];
  const fcnt16 = phy.readUInt16LE(6);
  const optLen = fctrl & 0x0f;
  const msg = phy.subarray(0, phy.length - 4);
  const fcnt = ((fcntHigh << 16) | fcnt16) >>> 0;
  const micOk = dataMic(k.nwkSKey, 1, devAddr, fcnt, msg).equals(phy.subarray(phy.length - 4));
  const rest = msg.subarray(8 + optLen);
  const fPort = rest.length ? rest[0] : undefined;
  const enc = rest.subarray(1);
  const payload = fPort === undefined ? Buffer.alloc(0) : cryptPayload(fPort === 0 ? k.nwkSKey : k.appSKey, 1, devAddr, fcnt, enc);
  return { mtype: mhdr === 5 ? 'confirmed' : 'unconfirmed', devAddr, fcnt16, ack: !!(fctrl & 0x20), fPending: !!(fctrl & 0x10), fPort, payload, micOk };
}

/** EUIs and keys are written MSB first in config (as printed on labels); frames carry them LSB first. */
export const le = (hex: string) => Buffer.from(hex, 'hex').reverse();

export function buildJoinRequest(f: { appEui: string; devEui: string; devNonce: number; appKey: Buffer }): Buffer {
  const nonce = Buffer.alloc(2);
  nonce.writeUInt16LE(f.devNonce);
  const msg = Buffer.concat([Buffer.from([0x00]), le(f.appEui), le(f.devEui), nonce]);
  return Buffer.concat([msg, cmac(f.appKey, msg).subarray(0, 4)]);
}

export interface JoinAccept {
  micOk: boolean;
  /** As in the frame (little endian). */
  appNonce: Buffer;
  netId: Buffer;
  devAddr: number;
  dlSettings: number;
  rxDelay: number;
  cfList: Buffer;
  nwkSKey: Buffer;
  appSKey: Buffer;
}

/**
 * Opens a JoinAccept as the device does: the network server "decrypted" it, so the device
 * AES-encrypts it back (LoRaWAN 1.0.x §6.2.5), checks the MIC and derives its session keys.
 */
export function openJoinAccept(phy: Buffer, appKey: Buffer, devNonce: number): JoinAccept {
  if (phy[0] !== 0x20) throw new Error(`not a JoinAccept (MHDR ${phy[0].toString(16)})`);
  const enc = phy.subarray(1);
  if (enc.length !== 16 && enc.length !== 32) throw new Error(`JoinAccept of ${phy.length} bytes`);
  let plain: Buffer = Buffer.alloc(0);
  for (let i = 0; i < enc.length; i += 16) plain = Buffer.concat([plain, aesEncrypt(appKey, enc.subarray(i, i + 16))]);
  const body = plain.subarray(0, plain.length - 4);
  const micOk = cmac(appKey, Buffer.concat([phy.subarray(0, 1), body])).subarray(0, 4).equals(plain.subarray(plain.length - 4));
  const appNonce = body.subarray(0, 3);
  const netId = body.subarray(3, 6);
  const nonce = Buffer.alloc(2);
  nonce.writeUInt16LE(devNonce);
  const derive = (t: number) => aesEncrypt(appKey, Buffer.concat([Buffer.from([t]), appNonce, netId, nonce, Buffer.alloc(7)]));
  return {
    micOk, appNonce: Buffer.from(appNonce), netId: Buffer.from(netId), devAddr: body.readUInt32LE(6), dlSettings: body[10], rxDelay: body[11],
    cfList: Buffer.from(body.subarray(12)), nwkSKey: derive(0x01), appSKey: derive(0x02),
  };
}
