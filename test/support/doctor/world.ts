// The setting of the doctor's end-to-end tests: a tmp dir, a test PKI with an expired and a
// valid server certificate, one real mosquitto (password file, an ACL, a TLS listener with the
// expired certificate and one with the valid certificate), socat pty pairs, RTU simulators, and
// `wayside doctor` run as a child process (`node main.ts doctor`) with its report parsed.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { makeTestPki } from '../../helpers/certs.ts';
import { freePort, startMosquitto, type Mosquitto } from '../../helpers/mosquitto.ts';
import { startPtyPair, type PtyPair } from '../../helpers/socat.ts';
import type { RtuSim } from '../modbus/sim.ts';
import type { CheckResult, DoctorReport } from '../../../runtime/doctor/index.ts';
import { serverCertWithDates } from './pki.ts';

const root = path.resolve(import.meta.dirname, '../../..');

export interface Run { code: number | null; out: string; err: string; ms: number }

/** `node main.ts doctor --config <file> [--json]`, as user `uid` when given. */
export function doctor(config: string, opts: { json?: boolean; uid?: number } = {}): Promise<Run> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const args = [path.join(root, 'main.ts'), 'doctor', '--config', config, ...(opts.json ? ['--json'] : [])];
    const p = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], ...(opts.uid !== undefined && { uid: opts.uid, gid: opts.uid }) });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d));
    p.stderr.on('data', (d: Buffer) => (err += d));
    const kill = setTimeout(() => p.kill('SIGKILL'), 30_000);
    p.on('exit', (code) => {
      clearTimeout(kill);
      resolve({ code, out, err, ms: Date.now() - t0 });
    });
  });
}

export function report(r: Run): DoctorReport {
  try {
    return JSON.parse(r.out) as DoctorReport;
  } catch {
    throw new Error(`doctor printed no JSON (exit ${r.code}): ${r.out}\n${r.err}`);
  }
}

export function check(r: DoctorReport, id: string): CheckResult {
  const c = r.checks.find((x) => x.id === id);
  if (!c) throw new Error(`no check ${id} in ${r.checks.map((x) => x.id).join(', ')}`);
  return c;
}

/** The register every simulated meter has: holding 0 = 1234. */
export const REGISTER = { holding: { 0: [1234] } };

/** A config line of a Modbus RTU device reading holding register 0 as `v`. */
export const modbusDevice = (id: string, port: string, baudRate: number) =>
  `  - { id: ${id}, driver: modbus, transport: { type: rtu, port: ${port}, baudRate: ${baudRate} }, points: [ { name: v, table: holding, address: 0 } ] }`;

export interface DoctorWorld {
  /** 0755, so doctor run as nobody can read what is in it. */
  dir: string;
  broker: Mosquitto;
  /** The TLS listener with a valid certificate (broker.tlsUrl has the expired one). */
  validTlsPort: number;
  caFile: string;
  /** Users: platform / platform-pass; gw-ok, gw-pass, gw-acl, gw-tls / right-pass. */
  writeConfig(name: string, lines: string[], mode?: number): string;
  ptyPair(): Promise<PtyPair>;
  /** Simulators and processes the world stops at destroy(). */
  sims: RtuSim[];
  kids: ChildProcess[];
  destroy(): Promise<void>;
}

export async function createDoctorWorld(): Promise<DoctorWorld> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'wayside-doctor-'));
  chmodSync(dir, 0o755);
  const pki = makeTestPki(path.join(dir, 'pki'));
  const expired = serverCertWithDates(pki, path.join(dir, 'pki'), 'expired', Date.UTC(2020, 0, 1), Date.UTC(2020, 1, 1));
  const valid = serverCertWithDates(pki, path.join(dir, 'pki'), 'valid', Date.now() - 3_600_000, Date.now() + 365 * 86_400_000);
  // gw-ok has the grants of the generated ACL (docs/provisioning.md); gw-acl lacks its state topic.
  const acl = [
    'user gw-ok', 'topic write wayside/v1/gw-ok/state', 'topic write wayside/v1/gw-ok/up/+', 'topic write wayside/v1/gw-ok/res/#', 'topic read wayside/v1/gw-ok/cmd/#',
    'user gw-acl', 'topic write wayside/v1/gw-acl/up/+', 'topic read wayside/v1/gw-acl/cmd/#',
    'user platform', 'topic read wayside/v1/#', 'topic write wayside/v1/+/cmd/#',
  ];
  writeFileSync(path.join(dir, 'acl'), acl.join('\n') + '\n');
  const validTlsPort = await freePort();
  const broker = await startMosquitto({
    users: { platform: 'platform-pass', 'gw-ok': 'right-pass', 'gw-pass': 'right-pass', 'gw-acl': 'right-pass', 'gw-tls': 'right-pass' },
    tls: { caFile: pki.caFile, certFile: expired.cert, keyFile: expired.key },
    extraConf: [
      `acl_file ${path.join(dir, 'acl')}`,
      '', `listener ${validTlsPort} 127.0.0.1`, `cafile ${pki.caFile}`, `certfile ${valid.cert}`, `keyfile ${valid.key}`, 'require_certificate false',
    ],
  });
  const pairs: PtyPair[] = [];
  const sims: RtuSim[] = [];
  const kids: ChildProcess[] = [];
  return {
    dir, broker, validTlsPort, caFile: pki.caFile, sims, kids,
    writeConfig(name, lines, mode = 0o600) {
      const file = path.join(dir, `${name}.yaml`);
      writeFileSync(file, ['version: 1', ...lines].join('\n') + '\n');
      chmodSync(file, mode);
      return file;
    },
    async ptyPair() {
      const d = path.join(dir, `pty-${pairs.length}`);
      mkdirSync(d, { mode: 0o755 });
      const p = await startPtyPair(d);
      pairs.push(p);
      return p;
    },
    async destroy() {
      for (const k of kids) k.kill('SIGKILL');
      await Promise.all(sims.map((s) => s.close()));
      await Promise.all(pairs.map((p) => p.stop()));
      await broker.destroy();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
