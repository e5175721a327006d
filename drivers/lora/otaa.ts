// Over-the-air activation, LoRaWAN 1.0.x: the gateway is the network (and join) server of its
// own devices. A JoinRequest (MIC with AppKey, a DevNonce never seen before) is answered with a
// JoinAccept on the RX1 join window; both sides derive the session keys from AppKey, AppNonce,
// NetID and DevNonce. lora-packet builds the JoinAccept: per §6.2.5 the server AES-*decrypts*
// the accept so the device, which only has the AES encrypt operation, opens it by encrypting.
import { randomBytes } from 'node:crypto';
import loraPacket from './lorapacket.ts';
import type { RxMeta, Txpk } from './udp.ts';

/** §6.2.5 / EU868 RP: JOIN_ACCEPT_DELAY1 = 5 s after the end of the JoinRequest. */
export const JOIN_ACCEPT_DELAY1_US = 5_000_000;
/** RX1 delay announced in the JoinAccept (seconds), used for the data downlinks of that session. */
export const RX_DELAY_S = 1;
/** DevNonces remembered per device (1.0.x nonces are random: a reused one is a replayed JoinRequest). */
export const DEVNONCE_HISTORY = 10_000;

export interface Session {
  devAddr: number;
  nwkSKey: Buffer;
  appSKey: Buffer;
}

export interface JoinResult {
  session: Session;
  /** AppNonce as sent (big endian hex, as lora-packet and logs show it). */
  appNonce: string;
  /** The JoinAccept PHYPayload, encrypted, ready for the air. */
  phy: Buffer;
}

/**
 * Accepts a verified JoinRequest: a fresh AppNonce, the allocated DevAddr, the accept frame
 * (DLSettings 0: RX1DROffset 0 and RX2 at DR0, the EU868 defaults; RxDelay 1 s; no CFList)
 * and the session keys (NwkSKey = aes128(AppKey, 0x01|AppNonce|NetID|DevNonce|pad), AppSKey 0x02).
 */
export function acceptJoin(o: { appKey: Buffer; netId: Buffer; devAddr: number; devNonce: number; appNonce?: Buffer }): JoinResult {
  const appNonce = o.appNonce ?? randomBytes(3);
  const devAddr = Buffer.alloc(4);
  devAddr.writeUInt32BE(o.devAddr >>> 0);
  const accept = loraPacket.fromFields(
    {
      MType: 'Join Accept',
      AppNonce: appNonce,
      NetID: o.netId,
      DevAddr: devAddr,
      // lora-packet skips falsy numbers: pass one-byte buffers.
      DLSettings: Buffer.from([0x00]),
      RxDelay: Buffer.from([RX_DELAY_S]),
      CFList: Buffer.alloc(0),
    },
    undefined,
    undefined,
    o.appKey,
  );
  const phy = accept.getPHYPayload();
  if (!phy) throw new Error('lora-packet built no JoinAccept');
  const nonce = Buffer.alloc(2);
  nonce.writeUInt16BE(o.devNonce);
  const keys = loraPacket.generateSessionKeys10(o.appKey, o.netId, appNonce, nonce);
  return { session: { devAddr: o.devAddr >>> 0, nwkSKey: keys.NwkSKey, appSKey: keys.AppSKey }, appNonce: appNonce.toString('hex'), phy };
}

/**
 * A DevAddr for a new session, type 0 (LoRaWAN Backend Interfaces §13): a 0 bit, the NwkID (the
 * NetID's low 6 bits), a random 25-bit NwkAddr; never one in use on the listener. NetIDs of
 * other types are treated as type 0 (private networks use 000000 or 000001).
 */
export function allocateDevAddr(netId: Buffer, inUse: (addr: number) => boolean): number {
  const nwkId = netId[2] & 0x3f;
  for (let i = 0; i < 1000; i++) {
    const addr = ((nwkId << 25) | (randomBytes(4).readUInt32BE() & 0x01ffffff)) >>> 0;
    if (!inUse(addr)) return addr;
  }
  throw new Error('no free DevAddr after 1000 tries');
}

/** The JoinAccept's radio packet: RX1 of the join, same channel and data rate (RX1DROffset 0), inverted polarity. */
export function joinAcceptTxpk(meta: RxMeta, phy: Buffer, powe: number): Txpk {
  return {
    imme: false, tmst: (meta.tmst + JOIN_ACCEPT_DELAY1_US) >>> 0, freq: meta.freq, rfch: 0, powe, modu: 'LORA',
    datr: meta.datr, codr: meta.codr, ipol: true, size: phy.length, data: phy.toString('base64'),
  };
}
