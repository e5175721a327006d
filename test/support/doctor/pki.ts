// Server certificates with chosen dates for the doctor's TLS checks, signed by a test PKI's CA
// (test/helpers/certs.ts). `openssl x509 -req` takes only `-days` from now (never negative) in
// OpenSSL 3.0, so certificates are issued with `openssl ca -startdate/-enddate`, which takes any
// dates: an expired one is really expired, as a broker would present it.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openssl, type TestPki } from '../../helpers/certs.ts';

/** `YYYYMMDDHHMMSSZ` for openssl ca. */
const stamp = (ms: number) => new Date(ms).toISOString().replace(/[-:T]/g, '').replace(/\.\d+Z$/, 'Z');

/** A server certificate for 127.0.0.1/localhost valid from..to (ms since epoch), signed by the PKI's CA. */
export function serverCertWithDates(pki: TestPki, dir: string, name: string, from: number, to: number): { cert: string; key: string } {
  const ca = join(dir, `ca-${name}`);
  mkdirSync(ca, { recursive: true });
  writeFileSync(join(ca, 'index.txt'), '');
  writeFileSync(join(ca, 'serial'), '1000\n');
  writeFileSync(join(ca, 'openssl.cnf'), [
    '[ca]', 'default_ca = test_ca',
    '[test_ca]', `dir = ${ca}`, 'database = $dir/index.txt', 'serial = $dir/serial', 'new_certs_dir = $dir',
    'default_md = sha256', 'policy = any', 'unique_subject = no', 'copy_extensions = none',
    '[any]', 'commonName = supplied',
    '[server]', 'basicConstraints = CA:FALSE', 'keyUsage = critical,digitalSignature', 'extendedKeyUsage = serverAuth',
    'subjectAltName = IP:127.0.0.1,DNS:localhost',
  ].join('\n') + '\n');
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const cert = join(dir, `${name}.crt`);
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key], dir);
  openssl(['req', '-new', '-key', key, '-subj', '/CN=localhost', '-out', csr], dir);
  openssl(['ca', '-batch', '-config', join(ca, 'openssl.cnf'), '-extensions', 'server', '-cert', pki.caFile, '-keyfile', pki.caKey,
    '-startdate', stamp(from), '-enddate', stamp(to), '-notext', '-in', csr, '-out', cert], dir);
  return { cert, key };
}
