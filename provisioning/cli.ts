// `wayside provision`: enroll this gateway, offline from a bundle file or online with a claim
// code. Writes under `<state>/provisioning/` (enroll.ts) and prints the uplink.yaml fragment to
// put into wayside.yaml. Exit 0 enrolled, 1 refused or failed (the reason's code on stderr), 2 usage.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseDuration } from '../runtime/config/index.ts';
import { stateDir } from '../runtime/state.ts';
import { parseTags } from './bundle.ts';
import { applyBundle, enrollOnline, type EnrollResult } from './enroll.ts';

export interface CliIo {
  out(text: string): void;
  err(text: string): void;
}

const processIo: CliIo = { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) };

export const PROVISION_USAGE = `  wayside provision --file <bundle.json> --state <dir>
  wayside provision --platform <mqtts://host:8883> --claim <code> --state <dir>
                    [--site <name>] [--tag k=v]... [--ca <ca.pem>] [--claim-user U --claim-pass P]
                                  enroll this gateway with the platform (docs/provisioning.md)
`;

class Usage extends Error {}

export async function provisionCli(argv: string[], io: CliIo = processIo): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        file: { type: 'string' },
        state: { type: 'string' },
        platform: { type: 'string' },
        claim: { type: 'string' },
        site: { type: 'string' },
        tag: { type: 'string', multiple: true },
        ca: { type: 'string' },
        'claim-user': { type: 'string' },
        'claim-pass': { type: 'string' },
        prefix: { type: 'string' },
        timeout: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
    if (values.help) {
      io.out(`usage:\n${PROVISION_USAGE}`);
      return 0;
    }
    if (!values.state) throw new Usage('--state <dir> is required (the agent\'s gateway.stateDir)');
    if (!!values.file === !!values.platform) throw new Usage('give either --file <bundle.json> (offline) or --platform <url> --claim <code> (online)');
    if (values.platform && !values.claim) throw new Usage('--platform needs --claim <code>');
  } catch (err) {
    io.err(`wayside provision: ${String((err as Error).message).split(/\. /)[0]}\n\nusage:\n${PROVISION_USAGE}`);
    return 2;
  }
  const dir = stateDir(join(values.state, 'provisioning'));
  let result: EnrollResult;
  try {
    if (values.file) {
      let bundle: unknown;
      try {
        bundle = JSON.parse(readFileSync(values.file, 'utf8'));
      } catch (err) {
        throw Object.assign(new Error(`${values.file}: ${(err as Error).message}`), { code: 'bad_request' });
      }
      result = applyBundle(dir, bundle, { method: 'offline' });
    } else {
      result = await enrollOnline(dir, {
        url: values.platform!,
        claim: values.claim!,
        site: values.site,
        tags: parseTags(values.tag),
        username: values['claim-user'],
        password: values['claim-pass'] ?? process.env.WAYSIDE_CLAIM_PASSWORD,
        ca: values.ca ? readFileSync(values.ca, 'utf8') : undefined,
        prefix: values.prefix,
        timeoutMs: values.timeout ? parseDuration(/^\d+$/.test(values.timeout) ? Number(values.timeout) : values.timeout) : undefined,
      });
    }
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    io.err(`wayside provision: refused${typeof code === 'string' ? ` (${code})` : ''}: ${(err as Error).message}\n`);
    return 1;
  }
  const id = result.identity;
  io.out(
    `${result.reprovisioned ? 're-provisioned' : 'enrolled'} as ${id.gatewayId}${id.site ? ` at ${id.site}` : ''} (${id.method}); platform key ${id.platformKeyFingerprint} pinned\n` +
      `identity: ${join(dir.path, 'identity.json')}\nuplink settings: ${result.fragmentFile}\n\n${result.fragment}`,
  );
  return 0;
}

/** What the composition root adds to CliApp.verbs. */
export const provisionVerb = { usage: PROVISION_USAGE, run: (argv: string[]) => provisionCli(argv) };
