// Sealing the enrollment bundle for one gateway on the online claim path: the claim topics are
// shared by every gateway that is not enrolled yet, so the answer (which holds broker
// credentials) is encrypted to an X25519 key the gateway made for this one request.
// X25519 ECDH -> HKDF-SHA256 (salt: the request id, info: "wayside-claim-v1") -> AES-256-GCM
// with the request id as additional data.
import { createCipheriv, createDecipheriv, createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync, randomBytes, type KeyObject } from 'node:crypto';
import { b64url, fromB64url } from './keys.ts';

export const SEAL_ALG = 'x25519-hkdf-sha256-a256gcm';

export interface Sealed {
  alg: typeof SEAL_ALG;
  /** The sender's ephemeral X25519 public key (raw, base64url). */
  epk: string;
  iv: string;
  ct: string;
  tag: string;
}

export interface BoxKeys {
  privateKey: KeyObject;
  /** Raw X25519 public key, base64url. */
  publicKey: string;
}

export function newBoxKeys(): BoxKeys {
  const { privateKey, publicKey } = generateKeyPairSync('x25519');
  return { privateKey, publicKey: (publicKey.export({ format: 'jwk' }) as { x: string }).x };
}

function x25519Public(raw: string): KeyObject {
  const buf = fromB64url(raw);
  if (!buf || buf.length !== 32) throw new Error('expected an X25519 public key (32 bytes, base64url)');
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: raw }, format: 'jwk' });
}

function key(priv: KeyObject, pub: KeyObject, context: string): Buffer {
  const shared = diffieHellman({ privateKey: priv, publicKey: pub });
  return Buffer.from(hkdfSync('sha256', shared, Buffer.from(context, 'utf8'), Buffer.from('wayside-claim-v1'), 32));
}

/** Encrypts `plain` to the holder of `recipient` (raw X25519 public key); `context` binds it to one request. */
export function seal(plain: string, recipient: string, context: string): Sealed {
  const eph = newBoxKeys();
  const k = key(eph.privateKey, x25519Public(recipient), context);
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', k, iv);
  c.setAAD(Buffer.from(context, 'utf8'));
  const ct = Buffer.concat([c.update(plain, 'utf8'), c.final()]);
  return { alg: SEAL_ALG, epk: eph.publicKey, iv: b64url(iv), ct: b64url(ct), tag: b64url(c.getAuthTag()) };
}

/** Decrypts a Sealed with the recipient's private key; throws when it was not sealed to it (or was altered). */
export function unseal(box: Sealed, privateKey: KeyObject, context: string): string {
  if (!box || box.alg !== SEAL_ALG) throw new Error(`sealed answer: expected alg ${SEAL_ALG}`);
  const iv = fromB64url(box.iv);
  const ct = fromB64url(box.ct);
  const tag = fromB64url(box.tag);
  if (!iv || !ct || !tag) throw new Error('sealed answer: iv, ct and tag must be base64url');
  const d = createDecipheriv('aes-256-gcm', key(privateKey, x25519Public(box.epk), context), iv);
  d.setAAD(Buffer.from(context, 'utf8'));
  d.setAuthTag(tag);
  return Buffer.concat([d.update(ct), d.final()]).toString('utf8');
}

