// The platform's Ed25519 signing key: `wayside-fleet keygen` makes it, every other verb loads it.
// The private key is a PKCS#8 PEM file (0600, in a 0700 directory); the public key is written
// next to it as `<name>.pub` (raw Ed25519, base64url, one line): that is what gateways pin.
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { fingerprint, privateKeyFromPem, rawPublicKey } from '../keys.ts';
import { writeFileAtomic } from '../store.ts';

export interface PlatformKey {
  privateKey: KeyObject;
  /** Raw Ed25519 public key, base64url. */
  publicKey: string;
  fingerprint: string;
}

/** Makes a key pair into `file` (private, 0600) and `file.pub`; refuses to overwrite unless `force`. */
export function generatePlatformKey(file: string, opts: { force?: boolean } = {}): PlatformKey & { file: string; pubFile: string } {
  if (existsSync(file) && !opts.force) throw new Error(`${file} exists: a new platform key would orphan every gateway that pinned the old one (use --force to replace it)`);
  const { privateKey } = generateKeyPairSync('ed25519');
  const publicKey = rawPublicKey(privateKey);
  writeFileAtomic(file, privateKey.export({ format: 'pem', type: 'pkcs8' }) as string, 0o600);
  const pubFile = `${file.replace(/\.key$/, '')}.pub`;
  writeFileAtomic(pubFile, publicKey + '\n', 0o644);
  return { privateKey, publicKey, fingerprint: fingerprint(publicKey), file, pubFile };
}

export function loadPlatformKey(file: string): PlatformKey {
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`platform key ${file}: ${(err as Error).message} (make one with \`wayside-fleet keygen\`)`, { cause: err });
  }
  const privateKey = privateKeyFromPem(pem, file);
  const publicKey = rawPublicKey(privateKey);
  return { privateKey, publicKey, fingerprint: fingerprint(publicKey) };
}
