// A real mosquitto for the provisioning tests: password file (one user per gateway, the
// platform user and the shared claim user) and the ACL that `wayside-fleet acl` prints.
// test/helpers/mosquitto.ts writes the password file; the ACL goes in through extraConf
// (per_listener_settings is false there, so acl_file applies to every listener).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { mosquittoAcl } from '../../../provisioning/acl.ts';
import { startMosquitto, type Mosquitto } from '../../helpers/mosquitto.ts';

export const PLATFORM_USER = 'platform';
export const PLATFORM_PASS = 'platform-secret';
export const CLAIM_USER = 'claim';
export const CLAIM_PASS = 'claim';

export interface AclBroker extends Mosquitto {
  /** Password of each gateway user. */
  passwords: Record<string, string>;
  aclFile: string;
}

/** mosquitto with users `gateways` (password `<gw>-pw`), platform and claim, confined by the generated ACL. */
export async function startAclBroker(gateways: string[], extraUsers: Record<string, string> = {}): Promise<AclBroker> {
  const dir = mkdtempSync(join(tmpdir(), 'wayside-prov-mosq-'));
  const aclFile = join(dir, 'acl');
  writeFileSync(aclFile, mosquittoAcl({ gateways: [...gateways, ...Object.keys(extraUsers)], platformUser: PLATFORM_USER, claimUser: CLAIM_USER }));
  const passwords: Record<string, string> = Object.fromEntries(gateways.map((g) => [g, `${g}-pw`]));
  const broker = await startMosquitto({
    dir,
    users: { ...passwords, ...extraUsers, [PLATFORM_USER]: PLATFORM_PASS, [CLAIM_USER]: CLAIM_PASS },
    extraConf: [`acl_file ${aclFile}`],
  });
  return { ...broker, passwords: { ...passwords, ...extraUsers }, aclFile };
}

/** A connected MQTT 5 client (no reconnects) as `username`. */
export async function connectAs(url: string, username: string, password: string, protocolVersion: 4 | 5 = 5): Promise<MqttClient> {
  const client = mqtt.connect(url, { protocolVersion, username, password, reconnectPeriod: 0, connectTimeout: 5000, clientId: `${username}-${Math.random().toString(16).slice(2, 8)}` });
  client.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  return client;
}
