// Ed25519 key helpers shared by the gateway and the platform side: keys travel as the raw 32-byte
// public key in base64url (43 characters), private keys live in PKCS#8 PEM files. A key's
// fingerprint is "SHA256:" + base64url(sha256(raw public key)), like ssh's.
import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';

export function b64url(buf: Buffer | Uint8Array): string {
  return Buffer.from(buf).toString('base64url');
}

/** Strict base64url decoding: undefined when `text` is not canonical base64url. */
export function fromB64url(text: unknown): Buffer | undefined {
  if (typeof text !== 'string' || !/^[A-Za-z0-9_-]*$/.test(text)) return undefined;
  const buf = Buffer.from(text, 'base64url');
  return buf.toString('base64url') === text ? buf : undefined;
}

/** The raw 32-byte Ed25519 public key of a public or private key object, base64url. */
export function rawPublicKey(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  const jwk = pub.export({ format: 'jwk' }) as { kty?: string; crv?: string; x?: string };
  if (jwk.crv !== 'Ed25519' || !jwk.x) throw new Error(`expected an Ed25519 key, got ${jwk.kty ?? '?'} ${jwk.crv ?? ''}`.trim());
  return jwk.x;
}

/** An Ed25519 public key from its raw base64url form; throws naming what is wrong. */
export function publicKeyFromRaw(raw: unknown): KeyObject {
  const buf = fromB64url(raw);
  if (!buf || buf.length !== 32) throw new Error(`expected an Ed25519 public key (32 bytes, base64url), got ${typeof raw === 'string' ? `${raw.length} characters` : typeof raw}`);
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw as string }, format: 'jwk' });
}

/** An Ed25519 private key from PEM text; throws naming `where` when it is not one. */
export function privateKeyFromPem(pem: string, where: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (err) {
    throw new Error(`${where}: not a PEM private key: ${(err as Error).message}`, { cause: err });
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`${where}: expected an Ed25519 private key, got ${key.asymmetricKeyType}`);
  return key;
}

export function fingerprint(rawPublic: string): string {
  const buf = fromB64url(rawPublic) ?? Buffer.from(rawPublic);
  return 'SHA256:' + createHash('sha256').update(buf).digest('base64url');
}

export function signBytes(data: Buffer, privateKey: KeyObject): string {
  return b64url(sign(null, data, privateKey));
}

/** False (never a throw) for a malformed signature. */
export function verifyBytes(data: Buffer, sig: unknown, publicKey: KeyObject): boolean {
  const s = fromB64url(sig);
  if (!s || s.length !== 64) return false;
  try {
    return verify(null, data, publicKey, s);
  } catch {
    return false;
  }
}
