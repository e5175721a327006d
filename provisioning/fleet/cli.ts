// `wayside-fleet`: the platform side of provisioning, as a command.
//   keygen  [--out platform.key] [--force]
//   claim   --offline --gw ID --broker URL (--user U --pass P | --client-cert F --client-key F)
//           [--site S] [--tag k=v]... [--ca F] [--ttl 7d] --out bundle.json
//   claim   --new --gw ID --claims claims.json [--site S] [--tag k=v]... [--user U --pass P] [--ttl 7d]
//   claim   --serve --url URL --claims claims.json [--user U --pass P] [--ca F] [--broker URL]
//           [--used claims.used.json] [--passwd-file F]
//   sign    <cmd> --to GW --payload file.json [--version N] [--ttl 10m]
//   acl     --gateways a,b,... | <ids...> --platform-user U [--claim-user U | --no-claim-user]
// Fleet verbs (fleet.ts over one MQTT connection; --broker URL --user U --pass P or
// $WAYSIDE_FLEET_PASSWORD, [--ca F]):
//   list     [--json]
//   health   <gw...|--tag k=v|--all> [--timeout 10s] [--json]
//   deploy   flows|config|model <file> --to GW|--tag k=v|--all --version N [--canary N]
//            [--max-failure 0.2] [--timeout 60s] [--json]     exit 0 all confirmed, 1 not, 3 stopped early
//   rollback flows|config <gw...|--tag k=v|--all> [--to N]
//   logs     <gw> [--lines 100]
// Every signing verb takes --key (default $WAYSIDE_FLEET_KEY or ./platform.key) and --prefix.
import { execFileSync } from 'node:child_process';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseDuration } from '../../runtime/config/index.ts';
import { mosquittoAcl } from '../acl.ts';
import { parseTags } from '../bundle.ts';
import { writeFileAtomic } from '../store.ts';
import { claimExpiry, newClaimCode, startClaimService, type ClaimEntry } from './claim.ts';
import { connectFleet, type DeployKind, type DeployOutcome, type Fleet, type Target } from './fleet.ts';
import { generatePlatformKey, loadPlatformKey, type PlatformKey } from './keys.ts';
import { fingerprint, rawPublicKey } from '../keys.ts';
import { formatTags, formatUptime, renderTable } from './table.ts';
import { makeBundle, signCommand } from './sign.ts';

export interface FleetIo {
  out(text: string): void;
  err(text: string): void;
  /** Resolves when the serving verb should stop (default: SIGINT/SIGTERM). */
  until?: Promise<void>;
}

export const FLEET_USAGE = `wayside-fleet - the platform side of Wayside provisioning (docs/provisioning.md)

usage:
  wayside-fleet keygen [--out platform.key] [--force]
  wayside-fleet claim --offline --gw ID --broker URL (--user U --pass P | --client-cert F --client-key F)
                      [--site S] [--tag k=v]... [--ca ca.pem] [--ttl 7d] --out bundle.json
  wayside-fleet claim --new --gw ID --claims claims.json [--site S] [--tag k=v]... [--user U --pass P] [--ttl 7d]
  wayside-fleet claim --serve --url URL --claims claims.json [--user U --pass P] [--ca ca.pem]
                      [--broker URL] [--used claims.used.json] [--passwd-file F]
  wayside-fleet sign <cmd> --to GW --payload file.json [--version N] [--ttl 10m]
  wayside-fleet acl --gateways a,b,c --platform-user U [--claim-user claim | --no-claim-user]
  wayside-fleet list [--json]
  wayside-fleet health <gw...|--tag k=v|--all> [--timeout 10s] [--json]
  wayside-fleet deploy flows|config|model <file> --to <gw>|--tag k=v|--all --version N
                       [--canary 1] [--max-failure 0.2] [--timeout 60s] [--name model] [--json]
  wayside-fleet rollback flows|config <gw...|--tag k=v|--all> [--to N]
  wayside-fleet logs <gw> [--lines 100]
options for all: --key <platform.key> (default $WAYSIDE_FLEET_KEY or ./platform.key), --prefix wayside/v1
fleet verbs:     --broker <mqtt(s)://host:port> --user U --pass P (or $WAYSIDE_FLEET_PASSWORD) [--ca ca.pem]
deploy exit codes: 0 every gateway confirmed, 1 some refused, rolled back, failed, timed out or
                   skipped, 3 stopped early (a stage failed more than --max-failure), 2 usage
`;

class Usage extends Error {}

const processIo: FleetIo = { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) };

function ms(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  try {
    return parseDuration(/^\d+(\.\d+)?$/.test(text) ? Number(text) : text);
  } catch {
    throw new Usage(`${flag}: expected a duration like "10m", "7d", got ${JSON.stringify(text)}`);
  }
}

function readText(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`${what} ${file}: ${(err as Error).message}`, { cause: err });
  }
}

function readClaims(file: string): ClaimEntry[] {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new Error(`claims file ${file}: ${(err as Error).message}`, { cause: err });
  }
  const claims = (doc as { claims?: unknown }).claims;
  if (!Array.isArray(claims)) throw new Error(`claims file ${file}: expected { "claims": [ ... ] }`);
  return claims as ClaimEntry[];
}

export async function fleetCli(argv: string[], io: FleetIo = processIo): Promise<number> {
  try {
    return await run(argv, io);
  } catch (err) {
    if (err instanceof Usage) {
      io.err(`wayside-fleet: ${err.message}\n\n${FLEET_USAGE}`);
      return 2;
    }
    io.err(`wayside-fleet: ${(err as Error).message}\n`);
    return 1;
  }
}

async function run(argv: string[], io: FleetIo): Promise<number> {
  const verb = argv[0];
  let parsed;
  try {
    parsed = parseArgs({
      args: argv.slice(1),
      allowPositionals: true,
      options: {
        key: { type: 'string' }, out: { type: 'string' }, force: { type: 'boolean' }, prefix: { type: 'string' },
        offline: { type: 'boolean' }, serve: { type: 'boolean' }, new: { type: 'boolean' },
        gw: { type: 'string' }, site: { type: 'string' }, tag: { type: 'string', multiple: true },
        broker: { type: 'string' }, user: { type: 'string' }, pass: { type: 'string' }, ca: { type: 'string' },
        'client-cert': { type: 'string' }, 'client-key': { type: 'string' }, ttl: { type: 'string' },
        url: { type: 'string' }, claims: { type: 'string' }, used: { type: 'string' }, 'passwd-file': { type: 'string' },
        to: { type: 'string' }, payload: { type: 'string' }, version: { type: 'string' },
        gateways: { type: 'string', multiple: true }, 'platform-user': { type: 'string' }, 'claim-user': { type: 'string' }, 'no-claim-user': { type: 'boolean' },
        json: { type: 'boolean' }, all: { type: 'boolean' }, timeout: { type: 'string' }, canary: { type: 'string' },
        'max-failure': { type: 'string' }, lines: { type: 'string' }, name: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw new Usage(String((err as Error).message).split(/\. /)[0]);
  }
  const { values: v, positionals } = parsed;
  if (!verb || verb === 'help' || verb === '--help' || verb === '-h' || v.help) {
    io.out(FLEET_USAGE);
    return 0;
  }
  const keyFile = v.key ?? process.env.WAYSIDE_FLEET_KEY ?? 'platform.key';
  const prefix = v.prefix ?? 'wayside/v1';

  switch (verb) {
    case 'keygen': {
      const k = generatePlatformKey(v.out ?? keyFile, { force: v.force });
      io.out(`platform key ${k.file} (0600), public key ${k.pubFile}\npublic key ${k.publicKey}\nfingerprint ${k.fingerprint}\n`);
      return 0;
    }
    case 'claim': {
      const modes = [v.offline, v.serve, v.new].filter(Boolean).length;
      if (modes !== 1) throw new Usage('claim needs exactly one of --offline, --new, --serve');
      if (v.offline) {
        if (!v.gw || !v.broker || !v.out) throw new Usage('claim --offline needs --gw, --broker and --out');
        if (!!v['client-cert'] !== !!v['client-key']) throw new Usage('--client-cert and --client-key go together');
        if (!v.user && !v['client-cert']) throw new Usage('claim --offline needs --user/--pass or --client-cert/--client-key');
        const key = loadPlatformKey(keyFile);
        const bundle = makeBundle(key.privateKey, {
          gw: v.gw, site: v.site, tags: parseTags(v.tag), ttlMs: ms(v.ttl, '--ttl'),
          broker: {
            url: v.broker, username: v.user, password: v.pass,
            certPem: v['client-cert'] ? readText(v['client-cert'], 'client certificate') : undefined,
            keyPem: v['client-key'] ? readText(v['client-key'], 'client key') : undefined,
            caPem: v.ca ? readText(v.ca, 'CA') : undefined,
          },
        });
        writeFileAtomic(v.out, JSON.stringify(bundle, null, 2) + '\n', 0o600);
        io.out(`bundle for ${v.gw} written to ${v.out} (0600; it holds the broker credentials), expires ${new Date(bundle.exp).toISOString()}, signed by ${key.fingerprint}\n`);
        return 0;
      }
      if (v.new) {
        if (!v.gw || !v.claims) throw new Usage('claim --new needs --gw and --claims');
        const claims = readClaims(v.claims);
        const entry: ClaimEntry = {
          code: newClaimCode(), gw: v.gw, expires: new Date(Date.now() + (ms(v.ttl, '--ttl') ?? 7 * 86_400_000)).toISOString(),
          ...(v.site ? { site: v.site } : {}), ...(v.tag ? { tags: parseTags(v.tag) } : {}),
          ...(v.user ? { username: v.user } : {}), ...(v.pass ? { password: v.pass } : {}),
        };
        writeFileAtomic(v.claims, JSON.stringify({ claims: [...claims, entry] }, null, 2) + '\n', 0o600);
        io.out(`claim code for ${v.gw}: ${entry.code} (expires ${entry.expires})\n`);
        return 0;
      }
      if (!v.url || !v.claims) throw new Usage('claim --serve needs --url and --claims');
      const key = loadPlatformKey(keyFile);
      const claims = readClaims(v.claims);
      for (const c of claims) claimExpiry(c);
      const passwd = v['passwd-file'];
      const svc = await startClaimService({
        url: v.url,
        mqtt: { username: v.user, password: v.pass, ...(v.ca ? { ca: readText(v.ca, 'CA') } : {}) },
        prefix, claims, platformKey: key.privateKey, brokerUrl: v.broker, caPem: v.ca ? readText(v.ca, 'CA') : undefined,
        usedFile: v.used ?? v.claims.replace(/\.json$/, '') + '.used.json',
        issueCredentials: passwd
          ? async (entry) => {
              const password = newClaimCode().replace(/-/g, '');
              const username = entry.username ?? entry.gw;
              execFileSync('mosquitto_passwd', ['-b', passwd, username, password], { stdio: 'pipe' });
              io.err(`added ${username} to ${passwd}: reload the broker (SIGHUP) before the gateway connects\n`);
              return { username, password };
            }
          : undefined,
        onRequest: (r) => io.err(`claim ${r.gw ?? '?'}: ${r.outcome}${r.message ? `: ${r.message}` : ''}\n`),
      });
      io.out(`claim service on ${v.url}: ${claims.length} claim codes, signing with ${key.fingerprint}\n`);
      await (io.until ?? new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      }));
      await svc.stop();
      return 0;
    }
    case 'sign': {
      const cmd = positionals[0];
      if (!cmd || !v.to || !v.payload) throw new Usage('sign needs <cmd>, --to and --payload');
      let payload: unknown;
      try {
        payload = JSON.parse(readText(v.payload, 'payload'));
      } catch (err) {
        throw new Error(`payload ${v.payload}: ${(err as Error).message}`, { cause: err });
      }
      const version = v.version === undefined ? undefined : Number(v.version);
      if (version !== undefined && !Number.isSafeInteger(version)) throw new Usage(`--version: expected an integer, got ${JSON.stringify(v.version)}`);
      const key = loadPlatformKey(keyFile);
      io.out(JSON.stringify(signCommand(key.privateKey, { cmd, gw: v.to, payload, version, ttlMs: ms(v.ttl, '--ttl') })) + '\n');
      return 0;
    }
    case 'acl': {
      const gateways = [...(v.gateways ?? []).flatMap((g) => g.split(',')), ...positionals].map((g) => g.trim()).filter(Boolean);
      if (!gateways.length || !v['platform-user']) throw new Usage('acl needs --gateways and --platform-user');
      io.out(mosquittoAcl({ gateways, platformUser: v['platform-user'], claimUser: v['no-claim-user'] ? null : v['claim-user'], prefix }));
      return 0;
    }
    case 'list':
    case 'health':
    case 'deploy':
    case 'rollback':
    case 'logs':
      return fleetVerb(verb, v, positionals, io, keyFile, prefix);
    default:
      throw new Usage(`unknown verb "${verb}"`);
  }
}

type Flags = Record<string, string | boolean | string[] | undefined>;

function int(text: string | undefined, flag: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < min || n > max) throw new Usage(`${flag}: expected an integer ${min}-${max}, got ${JSON.stringify(text)}`);
  return n;
}

/** Positional gateway ids, --tag k=v..., --all: exactly one kind. */
function targetOf(gws: string[], v: Flags): Target {
  const tags = v.tag as string[] | undefined;
  const kinds = [gws.length > 0, !!tags?.length, !!v.all].filter(Boolean).length;
  if (kinds !== 1) throw new Usage('name the gateways: <gw...>, --tag k=v or --all (one of them)');
  if (v.all) return { all: true };
  if (tags?.length) {
    try {
      return { tags: parseTags(tags) };
    } catch (err) {
      throw new Usage((err as Error).message);
    }
  }
  return { gateways: gws };
}

/** The platform key; verbs that sign nothing (list, health) run without one (a throwaway key is never used). */
function keyFor(file: string, needed: boolean): PlatformKey {
  if (needed || existsSync(file)) return loadPlatformKey(file);
  const { privateKey } = generateKeyPairSync('ed25519');
  const publicKey = rawPublicKey(privateKey);
  return { privateKey, publicKey, fingerprint: fingerprint(publicKey) };
}

function readModel(file: string): { manifest: Record<string, unknown>; bytes: Buffer } {
  let manifest: Record<string, unknown>;
  const text = readText(file, 'model manifest');
  try {
    manifest = JSON.parse(text) as Record<string, unknown>;
  } catch (err) {
    throw new Error(`model manifest ${file}: ${(err as Error).message}`, { cause: err });
  }
  if (typeof manifest?.file !== 'string') throw new Error(`model manifest ${file}: "file" (the .onnx next to it) is missing`);
  const modelFile = join(dirname(file), manifest.file);
  let bytes: Buffer;
  try {
    bytes = readFileSync(modelFile);
  } catch (err) {
    throw new Error(`model file ${modelFile}: ${(err as Error).message}`, { cause: err });
  }
  if (manifest.sha256 === undefined) manifest = { ...manifest, sha256: createHash('sha256').update(bytes).digest('hex') };
  return { manifest, bytes };
}

function outcomeLine(o: DeployOutcome): string {
  return `${o.gw}: ${o.status} v${o.version} (${(o.ms / 1000).toFixed(1)} s)${o.reason ? `: ${o.reason}` : ''}\n`;
}

async function fleetVerb(verb: string, v: Flags, positionals: string[], io: FleetIo, keyFile: string, prefix: string): Promise<number> {
  const str = (k: string) => v[k] as string | undefined;
  const url = str('broker') ?? process.env.WAYSIDE_FLEET_BROKER;
  if (!url) throw new Usage(`${verb} needs --broker <mqtt(s)://host:port> (or $WAYSIDE_FLEET_BROKER)`);
  // Everything about the request is checked before connecting.
  let run: (fleet: Fleet) => Promise<number>;
  const signs = verb === 'deploy' || verb === 'rollback' || verb === 'logs';
  const timeoutMs = ms(str('timeout'), '--timeout');
  switch (verb) {
    case 'list':
      if (positionals.length) throw new Usage(`list takes no arguments, got "${positionals[0]}"`);
      run = async (fleet) => {
        const gws = fleet.gateways();
        if (v.json) io.out(JSON.stringify(gws, null, 2) + '\n');
        else {
          const ver = (d: Record<string, unknown> | undefined, k: string) => (d?.[k] === null || d?.[k] === undefined ? '-' : String(d[k]));
          io.out(renderTable(['gateway', 'online', 'site', 'tags', 'flows', 'config', 'wayside'], gws.map((g) => [
            g.id, g.online ? 'yes' : `no${g.reason ? ` (${g.reason})` : ''}`, g.site ?? '-', formatTags(g.tags), ver(g.deployed, 'flows'), ver(g.deployed, 'config'), ver(g.versions, 'wayside'),
          ])));
          io.out(`${gws.length} gateways, ${gws.filter((g) => g.online).length} online\n`);
        }
        return 0;
      };
      break;
    case 'health': {
      const target = targetOf(positionals, v);
      run = async (fleet) => {
        const gws = selectOrFail(fleet, target);
        const res = await fleet.health(gws, { timeoutMs: timeoutMs ?? 10_000 });
        if (v.json) io.out(JSON.stringify(res, null, 2) + '\n');
        else {
          io.out(renderTable(['gateway', 'status', 'problems', 'uptime', 'outbox'], res.map((r) => {
            if (!r.ok) return [r.gw, r.error!.code, r.error!.message, '-', '-'];
            const h = r.result as { status?: string; problems?: string[]; uptimeS?: number; outbox?: { depth?: number } };
            return [r.gw, h.status ?? '?', h.problems?.length ? h.problems.join('; ') : '-', formatUptime(h.uptimeS), String(h.outbox?.depth ?? '-')];
          }), 80));
        }
        return res.every((r) => r.ok && (r.result as { status?: string }).status === 'ok') ? 0 : 1;
      };
      break;
    }
    case 'deploy': {
      const kind = positionals[0] as DeployKind;
      const file = positionals[1];
      if (!['flows', 'config', 'model'].includes(kind) || !file) throw new Usage('deploy needs flows|config|model and the file');
      if (positionals.length > 2) throw new Usage(`unexpected argument "${positionals[2]}"`);
      const version = int(str('version'), '--version', 1);
      if (version === undefined) throw new Usage('deploy needs --version N (newer than every version deployed before)');
      const canary = int(str('canary'), '--canary', 0);
      const maxText = str('max-failure');
      const maxFailureRate = maxText === undefined ? 0.2 : Number(maxText);
      if (!(maxFailureRate >= 0 && maxFailureRate <= 1) || maxText === '') throw new Usage(`--max-failure: expected a fraction 0..1, got ${JSON.stringify(maxText)}`);
      const target = targetOf(str('to') ? str('to')!.split(',').filter(Boolean) : [], v);
      let content: unknown;
      if (kind === 'flows') {
        const text = readText(file, 'flows file');
        try {
          content = JSON.parse(text);
        } catch (err) {
          throw new Error(`flows file ${file}: ${(err as Error).message}`, { cause: err });
        }
      } else if (kind === 'config') content = readText(file, 'config file');
      else content = readModel(file);
      run = async (fleet) => {
        const gws = selectOrFail(fleet, target);
        io.err(`deploying ${kind} v${version} to ${gws.length} gateway(s)${canary !== undefined ? `, ${canary} canary` : ''}, max failure ${Math.round(maxFailureRate * 100)} %\n`);
        const t = await fleet.deploy(kind, content, gws, { version, canary, maxFailureRate, timeoutMs: timeoutMs ?? 60_000, name: str('name'), onProgress: (o) => io.err(outcomeLine(o)) });
        if (v.json) io.out(JSON.stringify(t, null, 2) + '\n');
        else io.out(`${kind} v${version}: ${t.confirmed} confirmed, ${t.failed} failed, ${t.skipped} skipped${t.stoppedEarly ? `; stopped early: ${t.stoppedEarly}` : ''}\n`);
        return t.stoppedEarly ? 3 : t.failed === 0 && t.skipped === 0 ? 0 : 1;
      };
      break;
    }
    case 'rollback': {
      const kind = positionals[0] as DeployKind;
      if (kind !== 'flows' && kind !== 'config') throw new Usage('rollback needs flows|config (models: deploy the previous version again)');
      const target = targetOf(positionals.slice(1), v);
      const to = int(str('to'), '--to', 0);
      run = async (fleet) => {
        const res = await fleet.rollback(kind, selectOrFail(fleet, target), { to, timeoutMs });
        for (const r of res) {
          const rep = r.result as { version?: number; previous?: number; outcome?: string; reason?: string } | undefined;
          io.out(r.ok ? `${r.gw}: ${rep?.outcome ?? 'done'}, ${kind} v${rep?.version ?? '?'} active (was v${rep?.previous ?? '?'})\n` : `${r.gw}: ${r.error!.code}: ${r.error!.message}\n`);
        }
        return res.every((r) => r.ok && (r.result as { outcome?: string })?.outcome !== 'failed') ? 0 : 1;
      };
      break;
    }
    default: {
      const gw = positionals[0];
      if (!gw || positionals.length > 1) throw new Usage('logs needs one gateway id');
      const lines = int(str('lines'), '--lines', 1, 500) ?? 100;
      run = async (fleet) => {
        const out = await fleet.logs(gw, lines);
        io.out(v.json ? JSON.stringify(out, null, 2) + '\n' : out.map((l) => l + '\n').join(''));
        return 0;
      };
    }
  }
  const ca = str('ca');
  const fleet = await connectFleet({
    url, prefix, key: keyFor(keyFile, signs), versionFile: signs ? `${keyFile}.version` : undefined,
    username: str('user') ?? process.env.WAYSIDE_FLEET_USER, password: str('pass') ?? process.env.WAYSIDE_FLEET_PASSWORD,
    ...(ca ? { ca: readText(ca, 'CA') } : {}),
  });
  try {
    await fleet.ready();
    return await run(fleet);
  } finally {
    await fleet.close();
  }
}

function selectOrFail(fleet: Fleet, t: Target): string[] {
  const gws = fleet.select(t);
  if (!gws.length) throw new Error(t.all ? 'no gateway has state on the broker (wrong --prefix or --broker?)' : `no gateway matches ${t.tags ? formatTags(t.tags) : ''}`);
  return gws;
}

if (import.meta.main) {
  fleetCli(process.argv.slice(2)).then((code) => process.exit(code));
}
