// The provisioning state documents: small JSON files under the service's state directory
// (`<stateDir>/provisioning/`), held with lowdb through an adapter that writes via
// runtime/state.ts (temp file, fsync, rename, directory fsync; 0600 files in a 0700 directory).
// lowdb's own adapters do not fsync, so a power cut right after a write could bring back an old
// identity or forget a nonce that was accepted. Also the atomic writer for the PEM and password
// files enrollment leaves there.
import { dirname, join } from 'node:path';
import { LowSync, type SyncAdapter } from 'lowdb';
import { ensureDir, writeFileAtomic as writeStateFile, type StateDir } from '../runtime/state.ts';

/** A lowdb adapter over one StateDir document: reads parse (naming the file on bad JSON), writes are atomic and durable. */
export function stateAdapter<T>(dir: StateDir, name: string): SyncAdapter<T> {
  return {
    read: () => dir.read<T>(name) ?? null,
    write: (data) => dir.write(name, data),
  };
}

/** A lowdb document `name` in `dir`, read now; `defaults` when the file does not exist. */
export function openDoc<T>(dir: StateDir, name: string, defaults: T): LowSync<T> {
  const db = new LowSync<T>(stateAdapter<T>(dir, name), defaults);
  db.read();
  db.data ??= defaults;
  return db;
}

/** Atomic, durable replace of `file` with `text`, its directory made first (runtime/state.ts). */
export function writeFileAtomic(file: string, text: string | Buffer, mode = 0o600): void {
  ensureDir(dirname(file));
  writeStateFile(file, text, mode);
}

// ---- the documents

/** How the gateway reaches the platform broker after enrollment (file paths are absolute). */
export interface BrokerIdentity {
  url: string;
  username?: string;
  /** File holding the broker password (0600), referenced from the uplink fragment as `{ file: ... }`. */
  passwordFile?: string;
  /** Client certificate / key (PEM) for mutual TLS. */
  certFile?: string;
  keyFile?: string;
  /** CA bundle (PEM) the platform sent. */
  caFile?: string;
}

/** `identity.json`: who this gateway is and whose signatures it obeys. */
export interface IdentityDoc {
  v: 1;
  gatewayId: string;
  site?: string;
  tags: Record<string, string>;
  /** The pinned platform public key (raw Ed25519, base64url). */
  platformKey: string;
  platformKeyFingerprint: string;
  /** The gateway's own public key (raw Ed25519, base64url); its private key is `gateway.key`. */
  publicKey: string;
  broker: BrokerIdentity;
  /** ms epoch of the enrollment that wrote this document. */
  enrolledAt: number;
  /** `version` of the bundle it came from (its signing time): a re-provisioning bundle must be newer. */
  bundleVersion: number;
  /** 'offline' (bundle file) or 'online' (claim code). */
  method: 'offline' | 'online';
}

/** `replay.json`: what makes an accepted envelope useless a second time. */
export interface ReplayDoc {
  v: 1;
  /** nonce -> ms epoch after which it may be forgotten (its exp plus the skew). */
  nonces: Record<string, number>;
  /** command -> highest version accepted. */
  versions: Record<string, number>;
}

export const IDENTITY_FILE = 'identity.json';
export const REPLAY_FILE = 'replay.json';
export const GATEWAY_KEY_FILE = 'gateway.key';
export const PASSWORD_FILE = 'broker-password';
export const CA_FILE = 'ca.pem';
export const CLIENT_CERT_FILE = 'client.crt';
export const CLIENT_KEY_FILE = 'client.key';
export const FRAGMENT_FILE = 'uplink.yaml';

export interface ProvisioningStore {
  readonly dir: StateDir;
  identity(): IdentityDoc | undefined;
  saveIdentity(doc: IdentityDoc): void;
  replay: ReplayStore;
  /** Absolute path of a file in the provisioning directory. */
  file(name: string): string;
}

export interface ReplayStore {
  seen(nonce: string, now: number): boolean;
  lastVersion(cmd: string): number | undefined;
  versions(): Record<string, number>;
  /** Records an accepted envelope durably (before its handler runs); forgets expired nonces. */
  accept(nonce: string, forgetAt: number, cmd: string, version: number, now: number): void;
}

/** The store over `dir` (the provisioning service's own state directory). */
export function openStore(dir: StateDir): ProvisioningStore {
  let identity: LowSync<IdentityDoc | null> | undefined;
  let replay: LowSync<ReplayDoc> | undefined;
  const idDoc = () => (identity ??= openDoc<IdentityDoc | null>(dir, IDENTITY_FILE, null));
  const rp = () => (replay ??= openDoc<ReplayDoc>(dir, REPLAY_FILE, { v: 1, nonces: {}, versions: {} }));
  return {
    dir,
    identity: () => idDoc().data ?? undefined,
    saveIdentity(doc) {
      const db = idDoc();
      db.data = doc;
      db.write();
    },
    file: (name) => join(dir.path, name),
    replay: {
      seen(nonce, now) {
        const until = rp().data.nonces[nonce];
        return until !== undefined && until >= now;
      },
      lastVersion: (cmd) => rp().data.versions[cmd],
      versions: () => ({ ...rp().data.versions }),
      accept(nonce, forgetAt, cmd, version, now) {
        rp().update((d) => {
          for (const [n, until] of Object.entries(d.nonces)) if (until < now) delete d.nonces[n];
          d.nonces[nonce] = forgetAt;
          d.versions[cmd] = Math.max(version, d.versions[cmd] ?? -1);
        });
      },
    },
  };
}
