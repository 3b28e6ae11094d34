/**
 * The `trustedProxies` list as the data plane matches peers against it. Apart from the schema, so
 * that the data plane (every cluster worker) never loads zod or builds the schema at run time.
 */
import { BlockList, isIP } from 'node:net';

/** Builds a BlockList for `trustedProxies`, matching IPv4, IPv6 and IPv4-mapped IPv6 peers. */
export function trustedProxyList(cidrs: readonly string[]): BlockList | undefined {
  if (cidrs.length === 0) return undefined;
  const list = new BlockList();
  for (const entry of cidrs) {
    const [addr = '', bits] = entry.split('/');
    const type = isIP(addr) === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(addr, type);
    else list.addSubnet(addr, Number(bits), type);
  }
  return list;
}
