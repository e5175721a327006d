// Can the gateway reach the platform? Step by step, each bounded, each naming what failed:
// DNS, TCP, TLS (certificate dates and host name, the client certificate), MQTT CONNECT with the
// configured credentials, then the ACL: publish QoS 1 on the gateway's state topic and
// subscribe its command filter. Doctor connects as `<clientId>-doctor`, so a running agent is
// never kicked off the broker.
import dns from 'node:dns/promises';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { UplinkConfig } from '../config/index.ts';
import { topicsFor } from '../uplink/protocol.ts';
import { mqttTlsOptions } from '../uplink/tls-options.ts';
import { errorText, seconds, type Check, type Outcome } from './check.ts';

const STEP_MS = 3000;
/** A certificate that expires sooner than this is a warning. */
export const EXPIRY_WARN_DAYS = 14;
const DAY = 86_400_000;
const DEFAULT_PORTS: Record<string, number> = { mqtt: 1883, mqtts: 8883, ws: 80, wss: 443 };

export interface PlatformTarget {
  scheme: string;
  host: string;
  port: number;
  secure: boolean;
}

export function parseBrokerUrl(url: string): PlatformTarget {
  const u = new URL(url);
  const scheme = u.protocol.replace(/:$/, '').toLowerCase();
  const host = u.hostname.replace(/^\[|\]$/g, '');
  return { scheme, host, port: u.port ? Number(u.port) : DEFAULT_PORTS[scheme] ?? 1883, secure: scheme === 'mqtts' || scheme === 'wss' };
}

/** The payload doctor publishes on the state topic (not retained; docs/doctor.md). */
export function probePayload(gateway: string): string {
  return JSON.stringify({ v: 1, probe: 'doctor', gateway, ts: Date.now() });
}

/** Why the CONNACK refused us, as words and a fix (MQTT 5 reason codes and MQTT 3.1.1 return codes). */
export function connackProblem(code: number, v: 4 | 5, user: string | undefined): { detail: string; hint: string } {
  const who = user ? `user "${user}"` : 'an anonymous client (no uplink.username)';
  const creds = { detail: `the broker refused the user name or password of ${who}`, hint: 'check uplink.username and uplink.password (or the env/file it names); the platform may have changed the password' };
  // mosquitto (and others) answer a wrong password with "not authorized" too: say both.
  const denied = {
    detail: `the broker refused the login of ${who}: a wrong user name or password, or an account that may not connect`,
    hint: 'check uplink.username and uplink.password (or the env/file it names) against the platform\'s; if they are right, ask the platform to let the account (or its client certificate) connect',
  };
  if (v === 4) {
    switch (code) {
      case 1: return { detail: 'the broker does not speak MQTT 3.1.1 (return code 1)', hint: 'set uplink.protocolVersion: 5' };
      case 2: return { detail: 'the broker rejected the client id (return code 2)', hint: 'set a shorter uplink.clientId of letters and digits' };
      case 3: return { detail: 'the broker is unavailable (return code 3)', hint: 'the broker runs but refuses service: try later, or ask the platform' };
      case 4: return { ...creds, detail: `${creds.detail} (return code 4)` };
      case 5: return { ...denied, detail: `${denied.detail} (return code 5)` };
    }
  } else {
    const hex = `0x${code.toString(16).padStart(2, '0')}`;
    switch (code) {
      case 0x84: return { detail: `the broker does not speak MQTT 5 (reason ${hex})`, hint: 'set uplink.protocolVersion: 4' };
      case 0x85: return { detail: `the broker rejected the client id (reason ${hex})`, hint: 'set a shorter uplink.clientId of letters and digits' };
      case 0x86: return { ...creds, detail: `${creds.detail} (reason ${hex} Bad User Name or Password)` };
      case 0x87: return { ...denied, detail: `${denied.detail} (reason ${hex} Not authorized)` };
      case 0x88: case 0x89: return { detail: `the broker is unavailable or busy (reason ${hex})`, hint: 'try later, or ask the platform' };
      case 0x8a: return { detail: `the broker banned this client (reason ${hex})`, hint: 'ask the platform why the gateway is banned' };
      case 0x8c: return { detail: `the broker wants another authentication method (reason ${hex})`, hint: 'ask the platform how gateways authenticate' };
    }
  }
  return { detail: `the broker refused the connection (code ${code})`, hint: 'ask the platform what this code means for this account' };
}

/** The days from now until `date`, rounded down. */
const daysUntil = (date: Date, now: number) => Math.floor((date.getTime() - now) / DAY);
const day = (d: Date) => d.toISOString().slice(0, 10);

/** What is wrong with a certificate's dates, if anything. `whose`: "the broker's certificate". */
export function certDates(cert: X509Certificate, now: number, whose: string): Outcome | undefined {
  const to = new Date(cert.validTo);
  const from = new Date(cert.validFrom);
  if (to.getTime() < now) {
    return { status: 'fail', detail: `${whose} expired on ${day(to)} (${Math.floor((now - to.getTime()) / DAY)} days ago)`, hint: `${whose} must be renewed; if it is not that old, the gateway clock is wrong: see the clock check` };
  }
  if (from.getTime() > now) {
    return { status: 'fail', detail: `${whose} is not valid before ${day(from)}`, hint: 'the gateway clock is probably behind: see the clock check' };
  }
  const left = daysUntil(to, now);
  if (left < EXPIRY_WARN_DAYS) return { status: 'warn', detail: `${whose} expires in ${left} days (${day(to)})`, hint: `renew ${whose} before ${day(to)}` };
  return undefined;
}

function names(cert: X509Certificate): string {
  const san = cert.subjectAltName?.split(', ').map((s) => s.replace(/^(DNS|IP Address):/, '')) ?? [];
  if (san.length) return san.join(', ');
  return /CN=([^\n,]+)/.exec(cert.subject)?.[1] ?? cert.subject;
}

interface ChainState {
  target?: PlatformTarget;
  address?: string;
  client?: MqttClient;
}

/**
 * The platform chain for `uplink`: dns, tcp, tls, mqtt, acl. `trustedClock` says whether the
 * gateway clock can be believed (a certificate "expired" on a clock at 1970 is the clock's fault).
 */
export function platformChecks(uplink: UplinkConfig, gateway: string, opts: { stepMs?: number } = {}): { steps: Check[]; close(): Promise<void> } {
  const stepMs = opts.stepMs ?? STEP_MS;
  const st: ChainState = {};
  const url = uplink.url ?? '';
  const v = uplink.protocolVersion;

  const dnsStep: Check = {
    id: 'platform.dns', title: 'platform: DNS', timeoutMs: stepMs,
    timeoutHint: 'the DNS server does not answer: check /etc/resolv.conf and the network (cellular: is the modem registered?)',
    async run() {
      let t: PlatformTarget;
      try {
        t = parseBrokerUrl(url);
      } catch {
        return { status: 'fail', detail: `uplink.url ${JSON.stringify(url)} is not a URL`, hint: 'write it like mqtts://broker.example.com:8883' };
      }
      st.target = t;
      if (net.isIP(t.host)) {
        st.address = t.host;
        return { status: 'pass', detail: `${t.host} is an IP address (no lookup)` };
      }
      try {
        const found = await dns.lookup(t.host, { all: true });
        st.address = found[0].address;
        return { status: 'pass', detail: `${t.host} resolves to ${found.map((a) => a.address).join(', ')}` };
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOTFOUND') return { status: 'fail', detail: `${t.host}: no such host`, hint: 'check the host name in uplink.url; if it is right, the DNS server (/etc/resolv.conf) does not know it' };
        return { status: 'fail', detail: `${t.host}: lookup failed (${code ?? errorText(err)})`, hint: 'the DNS server does not answer: check /etc/resolv.conf and the network (cellular: is the modem registered?)' };
      }
    },
  };

  const tcpStep: Check = {
    id: 'platform.tcp', title: 'platform: TCP', timeoutMs: stepMs,
    timeoutHint: 'no answer: a firewall drops the packets or there is no route: check the network, and the host and port in uplink.url',
    async run() {
      const t = st.target!;
      const where = `${st.address}:${t.port}`;
      return new Promise<Outcome>((resolve) => {
        const s = net.connect({ host: st.address, port: t.port });
        const timer = setTimeout(() => {
          s.destroy();
          resolve({ status: 'fail', detail: `${where}: no answer within ${seconds(stepMs)}`, hint: 'a firewall drops the packets or there is no route: check the network, and the host and port in uplink.url' });
        }, stepMs - 50);
        s.once('connect', () => {
          clearTimeout(timer);
          s.destroy();
          resolve({ status: 'pass', detail: `${where} accepts connections` });
        });
        s.once('error', (err: NodeJS.ErrnoException) => {
          clearTimeout(timer);
          if (err.code === 'ECONNREFUSED') {
            resolve({ status: 'fail', detail: `${where}: connection refused (nothing listens there)`, hint: `the broker is down or listens on another port (${t.secure ? 'TLS is usually 8883' : 'plain MQTT is usually 1883'}): check uplink.url, or ask the platform` });
          } else if (err.code === 'EHOSTUNREACH' || err.code === 'ENETUNREACH') {
            resolve({ status: 'fail', detail: `${where}: no route (${err.code})`, hint: 'the network is down or has no route to the platform: check the link, the default route and (cellular) the APN' });
          } else resolve({ status: 'fail', detail: `${where}: ${errorText(err)}`, hint: 'check the network and uplink.url' });
        });
      });
    },
  };

  const tlsStep: Check = {
    id: 'platform.tls', title: 'platform: TLS', timeoutMs: stepMs,
    timeoutHint: 'the TLS handshake hangs: is the port a TLS port? (mqtts is usually 8883)',
    async run() {
      const t = st.target!;
      if (!t.secure) return { status: 'skip', detail: `${t.scheme}:// is plain MQTT: no TLS (the password and data travel unencrypted)` };
      const cfg = uplink.tls;
      const now = Date.now();
      // The gateway's own certificate first: an expired one fails whatever the broker says.
      let own: Outcome | undefined;
      if (cfg?.cert) {
        try {
          own = certDates(new X509Certificate(readFileSync(cfg.cert)), now, `the gateway's client certificate (${cfg.cert})`);
        } catch (err) {
          return { status: 'fail', detail: `uplink.tls.cert ${cfg.cert}: ${errorText(err)}`, hint: 'the file must be a PEM certificate' };
        }
        if (own?.status === 'fail') return own;
      }
      const servername = cfg?.servername ?? (net.isIP(t.host) ? undefined : t.host);
      let sock: tls.TLSSocket;
      try {
        // The uplink's own files; verification is done below, by hand, to name what is wrong.
        const { ca, cert, key, passphrase } = mqttTlsOptions(cfg);
        sock = tls.connect({ host: st.address, port: t.port, servername, rejectUnauthorized: false, ca, cert, key, passphrase });
      } catch (err) {
        return { status: 'fail', detail: `the TLS files of uplink.tls cannot be used: ${errorText(err)}`, hint: 'check uplink.tls.ca, cert, key (PEM) and keyPassphrase' };
      }
      // A handshake that never ends is the check's timeout to report; the socket must not outlive it.
      setTimeout(() => sock.destroy(), stepMs + 100).unref();
      const hello = await new Promise<{ ok: true } | { ok: false; err: Error }>((resolve) => {
        sock.once('secureConnect', () => resolve({ ok: true }));
        sock.once('error', (err) => resolve({ ok: false, err }));
      });
      try {
        if (!hello.ok) {
          const m = errorText(hello.err);
          const hint = /wrong version number|packet length too long|unknown protocol/i.test(m)
            ? 'this port does not speak TLS: use mqtt:// for a plain port, or the broker\'s TLS port (usually 8883)'
            : /certificate required|handshake failure/i.test(m)
              ? 'the broker wants a client certificate: set uplink.tls.cert and uplink.tls.key'
              : 'check uplink.tls (ca, cert, key) with the platform';
          return { status: 'fail', detail: `handshake failed: ${m}`, hint };
        }
        const cert = sock.getPeerX509Certificate();
        if (!cert) return { status: 'fail', detail: 'the broker sent no certificate', hint: 'ask the platform: its TLS listener is misconfigured' };
        const checked = cfg?.rejectUnauthorized !== false;
        const soft = (o: Outcome): Outcome => (checked || o.status !== 'fail' ? o : { ...o, status: 'warn', detail: `${o.detail} (the agent does not check: uplink.tls.rejectUnauthorized is false)` });
        const dates = certDates(cert, now, "the broker's certificate");
        if (dates?.status === 'fail') return soft(dates);
        const hostOk = net.isIP(servername ?? t.host) ? cert.checkIP(servername ?? t.host) : cert.checkHost(servername ?? t.host);
        if (!hostOk) {
          return soft({
            status: 'fail',
            detail: `the broker's certificate is for ${names(cert)}, not ${servername ?? t.host}`,
            hint: `put a name the certificate has in uplink.url (or uplink.tls.servername), or ask the platform for a certificate for ${servername ?? t.host}`,
          });
        }
        const authErr = (sock as tls.TLSSocket & { authorizationError?: Error | string }).authorizationError;
        if (authErr) {
          const code = String((authErr as { code?: string }).code ?? authErr);
          return soft({
            status: 'fail',
            detail: `the broker's certificate is not trusted (${code}; issuer ${/CN=([^\n,]+)/.exec(cert.issuer)?.[1] ?? cert.issuer})`,
            hint: cfg?.ca ? `uplink.tls.ca (${cfg.ca}) is not the CA that signed the broker's certificate: get the right CA file from the platform` : 'set uplink.tls.ca to the platform\'s CA file',
          });
        }
        if (own) return own;
        if (dates) return dates;
        const days = daysUntil(new Date(cert.validTo), now);
        return { status: 'pass', detail: `${sock.getProtocol()}, certificate for ${names(cert)} valid until ${day(new Date(cert.validTo))} (${days} days)${cfg?.cert ? ', client certificate ok' : ''}` };
      } finally {
        sock.destroy();
      }
    },
  };

  const mqttStep: Check = {
    id: 'platform.mqtt', title: 'platform: MQTT login', timeoutMs: stepMs,
    timeoutHint: 'is this port an MQTT port (not HTTP or another service)? A broker this slow is overloaded: ask the platform',
    async run() {
      const o: IClientOptions & { passphrase?: string } = {
        protocolVersion: v, clientId: `${uplink.clientId}-doctor`, username: uplink.username, password: uplink.password,
        clean: true, reconnectPeriod: 0, connectTimeout: stepMs, keepalive: 30,
        properties: v === 5 ? { sessionExpiryInterval: 0 } : undefined,
      };
      Object.assign(o, mqttTlsOptions(uplink.tls));
      const c = mqtt.connect(url, o);
      st.client = c;
      return new Promise<Outcome>((resolve) => {
        c.once('connect', () => resolve({ status: 'pass', detail: `the broker accepted ${uplink.username ? `user "${uplink.username}"` : 'the gateway'} (client id ${o.clientId}, MQTT ${v === 5 ? '5' : '3.1.1'})` }));
        c.once('error', (err) => {
          const code = (err as { code?: unknown }).code;
          if (typeof code === 'number') {
            const p = connackProblem(code, v, uplink.username);
            resolve({ status: 'fail', ...p });
          } else if (/connack timeout/i.test(errorText(err))) {
            resolve({ status: 'fail', detail: `the broker did not answer CONNECT within ${seconds(stepMs)}`, hint: 'is this port an MQTT port (not HTTP or another service)? A broker this slow is overloaded: ask the platform' });
          } else {
            const m = errorText(err);
            resolve({ status: 'fail', detail: m, hint: /certificate|alert|ssl|tls/i.test(m) ? 'the broker refused the TLS session: check uplink.tls.cert/key with the platform' : 'see the TCP and TLS checks above; ask the platform' });
          }
        });
        c.once('close', () => resolve({ status: 'fail', detail: 'the broker closed the connection before accepting it', hint: 'the broker refuses this client silently: check the credentials and client certificate with the platform' }));
      });
    },
  };

  const aclStep: Check = {
    id: 'platform.acl', title: 'platform: ACL', timeoutMs: stepMs,
    timeoutHint: 'the broker did not acknowledge the publish: ask the platform',
    async run() {
      const c = st.client!;
      const topics = topicsFor(uplink.topicPrefix, gateway);
      const aclHint = `the broker's ACL must let ${uplink.username ? `user "${uplink.username}"` : 'the gateway'} publish ${topics.state} and ${uplink.topicPrefix}/${gateway}/up/+ and subscribe ${topics.cmdFilter} (docs/provisioning.md, "Broker ACL"); an ACL keyed on the client id must also allow ${uplink.clientId}-doctor`;
      const pub = await new Promise<Error | undefined>((resolve) => {
        c.publish(topics.state, probePayload(gateway), { qos: 1, retain: false }, (err) => resolve(err ?? undefined));
      });
      if (pub) {
        const code = (pub as { code?: unknown }).code;
        if (code === 0x87) return { status: 'fail', detail: `the broker refused the state topic ${topics.state} (PUBACK 0x87 Not authorized)`, hint: aclHint };
        if (typeof code === 'number') return { status: 'fail', detail: `the broker refused the state topic ${topics.state} (PUBACK 0x${code.toString(16)}: ${errorText(pub)})`, hint: aclHint };
        return { status: 'fail', detail: `publish on ${topics.state} failed: ${errorText(pub)}`, hint: aclHint };
      }
      const granted = await new Promise<{ err?: Error; qos?: number }>((resolve) => {
        c.subscribe(topics.cmdFilter, { qos: 1 }, (err, g) => resolve({ err: err ?? undefined, qos: g?.[0]?.qos }));
      });
      if (granted.err || (granted.qos ?? 0) >= 0x80) {
        const why = granted.err ? errorText(granted.err) : `SUBACK 0x${granted.qos!.toString(16)}`;
        return { status: 'fail', detail: `may publish ${topics.state} but not subscribe ${topics.cmdFilter} (${why}): commands would never arrive`, hint: aclHint };
      }
      const proof = v === 5 ? '' : ' (MQTT 3.1.1: a broker drops a denied publish silently, so only the subscription proves the ACL)';
      return { status: 'pass', detail: `may publish ${topics.state} and subscribe ${topics.cmdFilter}${proof}` };
    },
  };

  return {
    steps: [dnsStep, tcpStep, tlsStep, mqttStep, aclStep],
    async close() {
      const c = st.client;
      if (!c) return;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 1000);
        c.end(!c.connected, () => { clearTimeout(timer); resolve(); });
      });
    },
  };
}
