// Client allow-list of the Modbus server: IP addresses and CIDR blocks, IPv4 and IPv6, checked
// with node's BlockList. An IPv4 client on a dual-stack socket shows as "::ffff:10.0.0.7" and is
// checked as 10.0.0.7.
import { BlockList, isIP } from 'node:net';

/** Why `s` is not an IP address or CIDR block, or undefined when it is one. */
export function cidrProblem(s: string): string | undefined {
  const [addr, prefix, ...rest] = s.split('/');
  const family = isIP(addr);
  if (!family || rest.length) return `expected an IP address or a CIDR block like "10.0.0.0/24", got ${JSON.stringify(s)}`;
  if (prefix === undefined) return undefined;
  const max = family === 4 ? 32 : 128;
  if (!/^\d{1,3}$/.test(prefix) || Number(prefix) > max) return `expected a prefix length 0-${max} after "/", got ${JSON.stringify(s)}`;
  return undefined;
}

export interface AllowList {
  allows(address: string | undefined): boolean;
}

/** The allow-list of already validated entries (cidrProblem found nothing). */
export function createAllowList(entries: string[]): AllowList {
  const list = new BlockList();
  for (const e of entries) {
    const [addr, prefix] = e.split('/');
    const type = isIP(addr) === 6 ? 'ipv6' : 'ipv4';
    if (prefix === undefined) list.addAddress(addr, type);
    else list.addSubnet(addr, Number(prefix), type);
  }
  return {
    allows(address) {
      if (!address) return false;
      const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
      const a = v4 ? v4[1] : address;
      const family = isIP(a);
      if (!family) return false;
      return list.check(a, family === 6 ? 'ipv6' : 'ipv4');
    },
  };
}
