// The gateway's own Ed25519 key pair, made on the gateway with node:crypto the first time it is
// needed. The private key stays in `<stateDir>/provisioning/gateway.key` (PKCS#8 PEM, 0600, in a
// 0700 directory) and is never sent anywhere; the public key goes into the enrollment request
// (and the identity document), so the platform can tell this gateway's requests from others'.
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { StateDir } from '../runtime/state.ts';
import { privateKeyFromPem, rawPublicKey } from './keys.ts';
import { GATEWAY_KEY_FILE, writeFileAtomic } from './store.ts';

export interface GatewayKeys {
  privateKey: KeyObject;
  /** Raw Ed25519 public key, base64url. */
  publicKey: string;
  /** Absolute path of the PEM file. */
  file: string;
  /** True when this call made the key pair. */
  created: boolean;
}

/** Loads the gateway key pair from `dir`, making (and durably writing) it when there is none. */
export function loadOrCreateGatewayKeys(dir: StateDir): GatewayKeys {
  const file = join(dir.path, GATEWAY_KEY_FILE);
  let pem: string | undefined;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`${file}: ${(err as Error).message}`, { cause: err });
  }
  if (pem !== undefined) {
    const privateKey = privateKeyFromPem(pem, file);
    return { privateKey, publicKey: rawPublicKey(privateKey), file, created: false };
  }
  const { privateKey } = generateKeyPairSync('ed25519');
  writeFileAtomic(file, privateKey.export({ format: 'pem', type: 'pkcs8' }) as string, 0o600);
  return { privateKey, publicKey: rawPublicKey(privateKey), file, created: true };
}
