// `wayside-fleet`: the platform side of provisioning, as a command.
//   keygen  [--out platform.key] [--force]
//   claim   --offline --gw ID --broker URL (--user U --pass P | --client-cert F --client-key F)
//           [--site S] [--tag k=v]... [--ca F] [--ttl 7d] --out bundle.json
//   claim   --new --gw ID --claims claims.json [--site S] [--tag k=v]... [--user U --pass P] [--ttl 7d]
//   claim   --serve --url URL --claims claims.json [--user U --pass P] [--ca F] [--broker URL]
//           [--used claims.used.json] [--passwd-file F]
//   sign    <cmd> --to GW --payload file.json [--version N] [--ttl 10m]
//   acl     --gateways a,b,... | <ids...> --platform-user U [--claim-user U | --no-claim-user]
// Every signing verb takes --key (default $WAYSIDE_FLEET_KEY or ./platform.key) and --prefix.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parseDuration } from '../../runtime/config/index.ts';
import { mosquittoAcl } from '../acl.ts';
import { parseTags } from '../bundle.ts';
import { writeFileAtomic } from '../store.ts';
import { claimExpiry, newClaimCode, startClaimService, type ClaimEntry } from './claim.ts';
import { generatePlatformKey, loadPlatformKey } from './keys.ts';
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
options for all: --key <platform.key> (default $WAYSIDE_FLEET_KEY or ./platform.key), --prefix wayside/v1
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
    default:
      throw new Usage(`unknown verb "${verb}"`);
  }
}

if (import.meta.main) {
  fleetCli(process.argv.slice(2)).then((code) => process.exit(code));
}
