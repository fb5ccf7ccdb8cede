/**
 * Address allow and deny lists (`limits.allow`, `limits.deny`) on `node:net` BlockList.
 * Invariants: deny wins over allow; an empty allow list allows every address; an IPv4-mapped IPv6
 * address (`::ffff:10.0.0.1`, what a dual-stack socket reports for an IPv4 peer) is checked as the
 * IPv4 address it carries, so an IPv4 rule matches it.
 */
import { BlockList, isIP } from 'node:net';

export interface AddressRule {
  address: string;
  prefix: number;
  family: 'ipv4' | 'ipv6';
}

/** Parses `10.0.0.0/8`, `2001:db8::/32` or a single address; returns a message on error. */
export function parseCidr(text: string): AddressRule | string {
  const [addr = '', bits, ...rest] = text.trim().split('/');
  if (rest.length > 0) return `"${text}" is not an address or CIDR`;
  const v = isIP(addr);
  if (v === 0) return `"${text}" is not an IPv4 or IPv6 address or CIDR`;
  const max = v === 4 ? 32 : 128;
  const prefix = bits === undefined ? max : Number(bits);
  if (!/^\d+$/.test(bits ?? String(max)) || prefix > max) return `"${text}": prefix must be 0..${max}`;
  return { address: addr, prefix, family: v === 4 ? 'ipv4' : 'ipv6' };
}

/** `::ffff:1.2.3.4` → `1.2.3.4`; anything else unchanged. */
export function normalizeAddress(address: string): string {
  if (address.charCodeAt(0) !== 0x3a /* : */) return address;
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return m ? (m[1] as string) : address;
}

function blockList(cidrs: readonly string[], where: string): BlockList {
  const list = new BlockList();
  cidrs.forEach((c, i) => {
    const rule = parseCidr(c);
    if (typeof rule === 'string') throw new Error(`${where}[${i}]: ${rule}`);
    list.addSubnet(rule.address, rule.prefix, rule.family);
  });
  return list;
}

export class AddressLists {
  private readonly allow: BlockList | null;
  private readonly deny: BlockList | null;

  constructor(allow: readonly string[], deny: readonly string[]) {
    this.allow = allow.length > 0 ? blockList(allow, 'limits.allow') : null;
    this.deny = deny.length > 0 ? blockList(deny, 'limits.deny') : null;
  }

  get active(): boolean {
    return this.allow !== null || this.deny !== null;
  }

  /** Whether this remote address may connect. An unknown address (socket already gone) is refused. */
  allows(remote: string | undefined): boolean {
    if (!this.active) return true;
    if (!remote) return false;
    const address = normalizeAddress(remote);
    const family = isIP(address) === 4 ? 'ipv4' : 'ipv6';
    if (this.deny?.check(address, family)) return false;
    return this.allow === null || this.allow.check(address, family);
  }
}
