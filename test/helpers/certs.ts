// A throwaway PKI for TLS tests, made with the openssl CLI: one CA, a server certificate for
// 127.0.0.1/localhost (SAN) and a client certificate for mutual TLS. EC P-256 keys: ~100 ms total.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TestPki {
  caFile: string;
  /** The CA key, to sign more certificates in a test. */
  caKey: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

/** Runs the openssl CLI in `cwd`; a failure throws with openssl's own words. */
export function openssl(args: string[], cwd: string): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: 'pipe' });
  } catch (err) {
    const e = err as { stderr?: Buffer; message: string };
    throw new Error(`openssl ${args[0]} failed: ${e.stderr?.toString() || e.message}`);
  }
}

function ecKey(file: string, cwd: string): void {
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', file], cwd);
}

/** Sign a leaf certificate for `cn` with the CA in `dir`; `ext` are x509v3 extension lines. */
export function signLeaf(dir: string, name: string, cn: string, ext: string[]): { cert: string; key: string } {
  const key = join(dir, `${name}.key`);
  const cert = join(dir, `${name}.crt`);
  const csr = join(dir, `${name}.csr`);
  const extFile = join(dir, `${name}.ext`);
  ecKey(key, dir);
  openssl(['req', '-new', '-key', key, '-subj', `/CN=${cn}`, '-out', csr], dir);
  writeFileSync(extFile, ext.join('\n') + '\n');
  openssl(['x509', '-req', '-in', csr, '-CA', join(dir, 'ca.crt'), '-CAkey', join(dir, 'ca.key'),
    '-CAcreateserial', '-days', '2', '-sha256', '-extfile', extFile, '-out', cert], dir);
  return { cert, key };
}

export function makeTestPki(dir: string, opts: { cn?: string; clientCn?: string } = {}): TestPki {
  mkdirSync(dir, { recursive: true });
  const caKey = join(dir, 'ca.key');
  const caFile = join(dir, 'ca.crt');
  ecKey(caKey, dir);
  openssl(['req', '-x509', '-new', '-key', caKey, '-sha256', '-days', '2', '-subj', `/CN=${opts.cn ?? 'wayside-test-ca'}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-out', caFile], dir);
  const server = signLeaf(dir, 'server', 'localhost', [
    'basicConstraints=CA:FALSE',
    'keyUsage=critical,digitalSignature',
    'extendedKeyUsage=serverAuth',
    'subjectAltName=IP:127.0.0.1,DNS:localhost',
  ]);
  const client = signLeaf(dir, 'client', opts.clientCn ?? 'gw-test', [
    'basicConstraints=CA:FALSE',
    'keyUsage=critical,digitalSignature',
    'extendedKeyUsage=clientAuth',
  ]);
  return { caFile, caKey, serverCert: server.cert, serverKey: server.key, clientCert: client.cert, clientKey: client.key };
}
