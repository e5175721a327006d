// The uplink's `tls` config as mqtt.js client options (files read now): one place for the agent's
// uplink and `wayside doctor`'s MQTT login step, so doctor tests the very options the agent uses.
import { readFileSync } from 'node:fs';
import type { IClientOptions } from 'mqtt';
import type { TlsConfig } from '../config/index.ts';

/** mqtt.js hands unknown options (`passphrase`) through to tls.connect. */
export type TlsClientOptions = Pick<IClientOptions, 'ca' | 'cert' | 'key' | 'rejectUnauthorized' | 'servername'> & { passphrase?: string };

export function mqttTlsOptions(t: TlsConfig | undefined): TlsClientOptions {
  if (!t) return {};
  const o: TlsClientOptions = { rejectUnauthorized: t.rejectUnauthorized };
  if (t.ca) o.ca = readFileSync(t.ca);
  if (t.cert) o.cert = readFileSync(t.cert);
  if (t.key) o.key = readFileSync(t.key);
  if (t.keyPassphrase) o.passphrase = t.keyPassphrase;
  if (t.servername) o.servername = t.servername;
  return o;
}
