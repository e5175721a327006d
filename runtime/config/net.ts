// Host and broker URL checks. mqtt.js falls back to the scheme's default port when the URL's
// port does not parse, and a bad listen host only fails at run time: refuse both in the loader.
import { isIP } from 'node:net';

const LABEL_RE = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/** Why `host` is neither an IP address nor a host name, or undefined when it is one. */
export function hostProblem(host: string): string | undefined {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (isIP(bare)) return undefined;
  // Dotted digits that are not an IPv4 address ("10.0.0.256") are a typo, not a host name.
  if (/^[\d.]+$/.test(host)) return `expected an IP address or a host name, got ${JSON.stringify(host)} (not a valid IPv4 address)`;
  const name = host.endsWith('.') ? host.slice(0, -1) : host;
  if (name.length > 0 && name.length <= 253 && name.split('.').every((l) => LABEL_RE.test(l))) return undefined;
  return `expected an IP address or a host name, got ${JSON.stringify(host)}`;
}

const SCHEMES = ['mqtt', 'mqtts', 'ws', 'wss'];

/** Why `url` is not a usable broker URL, or undefined. The scheme was already checked by the schema. */
export function brokerUrlProblem(url: string): string | undefined {
  // Read the port ourselves: WHATWG URL rejects some bad ports but keeps others as "".
  const m = /^([a-z]+):\/\/(?:[^@/]*@)?(\[[^\]]*\]|[^:/?#]*)(?::([^/?#]*))?/i.exec(url);
  if (!m || !SCHEMES.includes(m[1].toLowerCase())) return `expected a URL with scheme mqtt, mqtts, ws or wss, got ${JSON.stringify(url)}`;
  const [, , host, port] = m;
  if (!host) return `expected a host after "${m[1]}://", got ${JSON.stringify(url)}`;
  if (hostProblem(host)) return `expected an IP address or a host name as the URL host, got ${JSON.stringify(host)} in ${JSON.stringify(url)}`;
  if (port !== undefined && !(/^\d{1,5}$/.test(port) && +port >= 1 && +port <= 65535)) {
    return `expected a port 1-65535 after the host, got ${JSON.stringify(port)} in ${JSON.stringify(url)}`;
  }
  return undefined;
}
