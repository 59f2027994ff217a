import dns from 'node:dns';
import net, { BlockList, type LookupFunction } from 'node:net';

/**
 * Address ranges a push endpoint may not reach: this host, private networks,
 * link-local, shared, reserved and multicast ranges (the special-purpose
 * registries of RFC 6890, IPv4 and IPv6). A user could otherwise make the
 * server send requests into the network it runs in.
 */
const BLOCKED_IPV4: Array<[string, number]> = [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
];
const BLOCKED_IPV6: Array<[string, number]> = [
  ['::', 128],
  ['::1', 128],
  // IPv4-translated addresses (RFC 2765), which SIIT translators map to the IPv4 address in the last 32 bits.
  ['::ffff:0:0:0', 96],
  // The local-use NAT64 prefix (RFC 8215), whose translator may reach any private IPv4 network.
  ['64:ff9b:1::', 48],
  ['100::', 64],
  // IETF protocol assignments, Teredo (2001::/32) among them, which embeds an IPv4 address.
  ['2001::', 23],
  ['2001:db8::', 32],
  ['3fff::', 20],
  ['5f00::', 16],
  ['fc00::', 7],
  ['fe80::', 10],
  ['fec0::', 10],
  ['ff00::', 8],
];

/** An endpoint rejected by the guard; its message is safe to return to the endpoint's owner. */
export class EndpointRejected extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EndpointRejected';
  }
}

/** Resolves a host name to all its addresses, as dns.lookup with `all: true` does. */
export type ResolveAll = (hostname: string) => Promise<dns.LookupAddress[]>;

const systemResolveAll: ResolveAll = (hostname) => dns.promises.lookup(hostname, { all: true, verbatim: true });

/**
 * Checks push endpoints: https only, and no address in the blocked ranges
 * unless the operator lists it in CHATTERBOX_PUSH_ALLOWED_ADDRESSES. The
 * check runs when a subscription is registered and again on every send,
 * through `lookup`, which the sending agent uses to resolve the host. The
 * connection then goes to the address that was checked, so a name that
 * resolves elsewhere by the time of sending (DNS rebinding) is caught too.
 */
export class AddressGuard {
  readonly #blocked = new BlockList();
  readonly #allowed = new BlockList();
  readonly #resolveAll: ResolveAll;

  /** `resolveAll` replaces the system resolver (dns.lookup), for a node with a resolver of its own and for tests. */
  constructor(allowedAddresses: readonly string[], resolveAll: ResolveAll = systemResolveAll) {
    this.#resolveAll = resolveAll;
    for (const [address, prefix] of BLOCKED_IPV4) this.#blocked.addSubnet(address, prefix, 'ipv4');
    for (const [address, prefix] of BLOCKED_IPV6) this.#blocked.addSubnet(address, prefix, 'ipv6');
    for (const entry of allowedAddresses) {
      const [address = '', prefix] = entry.split('/');
      const family = net.isIP(address) === 6 ? 'ipv6' : 'ipv4';
      const fullLength = family === 'ipv6' ? 128 : 32;
      this.#allowed.addSubnet(address, prefix === undefined ? fullLength : Number(prefix), family);
    }
  }

  /** True when a request may go to this IP address. */
  isAllowed(address: string): boolean {
    const family = net.isIP(address);
    if (family === 0) return false;
    if (this.#allowed.check(address, family === 6 ? 'ipv6' : 'ipv4')) return true;
    if (family === 4) return !this.#blocked.check(address, 'ipv4');

    const embedded = embeddedIpv4(address);
    if (embedded !== undefined) return this.isAllowed(embedded);
    return !this.#blocked.check(address, 'ipv6');
  }

  /** Checks an endpoint URL and every address its host resolves to; throws EndpointRejected. */
  async checkEndpoint(endpoint: string): Promise<void> {
    const url = parseHttpsUrl(endpoint);
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    if (net.isIP(host) !== 0) {
      if (!this.isAllowed(host)) throw new EndpointRejected(`endpoint address ${host} is loopback, private, link-local or reserved`);
      return;
    }
    let addresses: dns.LookupAddress[];
    try {
      addresses = await this.#resolveAll(host);
    } catch {
      throw new EndpointRejected(`endpoint host ${host} could not be resolved`);
    }
    this.#checkResolved(host, addresses);
  }

  /** A dns.lookup replacement for an https.Agent that refuses hosts resolving to a blocked address. */
  readonly lookup: LookupFunction = (hostname, options, callback) => {
    this.#resolveAll(hostname).then(
      (addresses) => {
        try {
          this.#checkResolved(hostname, addresses);
        } catch (rejected) {
          callback(rejected as NodeJS.ErrnoException, '', 4);
          return;
        }
        const family = options.family === 4 || options.family === 6 ? options.family : undefined;
        const usable = family === undefined ? addresses : addresses.filter((entry) => entry.family === family);
        if (usable.length === 0) {
          callback(Object.assign(new Error(`${hostname} has no IPv${family} address`), { code: 'ENOTFOUND' }), '', 4);
          return;
        }
        if (options.all === true) (callback as unknown as (error: null, addresses: dns.LookupAddress[]) => void)(null, usable);
        else callback(null, usable[0]!.address, usable[0]!.family);
      },
      (error: NodeJS.ErrnoException) => callback(error, '', 4),
    );
  };

  #checkResolved(host: string, addresses: readonly dns.LookupAddress[]): void {
    if (addresses.length === 0) throw new EndpointRejected(`endpoint host ${host} has no address`);
    // One blocked address refuses the host, because the connection may go to any of them.
    const blocked = addresses.find((entry) => !this.isAllowed(entry.address));
    if (blocked !== undefined) throw new EndpointRejected(`endpoint host ${host} resolves to ${blocked.address}, which is loopback, private, link-local or reserved`);
  }
}

/** Parses an https URL without credentials; throws EndpointRejected otherwise. */
export function parseHttpsUrl(endpoint: string): URL {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new EndpointRejected('endpoint is not a valid URL');
  }
  if (url.protocol !== 'https:') throw new EndpointRejected('endpoint must be an https URL');
  if (url.username !== '' || url.password !== '') throw new EndpointRejected('endpoint must not contain credentials');
  return url;
}

/**
 * Returns the IPv4 address inside an IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible,
 * NAT64 (64:ff9b::/96) or 6to4 (2002::/16) IPv6 address, which reach that IPv4 host.
 */
function embeddedIpv4(address: string): string | undefined {
  const words = expandIpv6(address);
  if (words === undefined) return undefined;
  const toIpv4 = (high: number, low: number) => `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
  const zeros = (from: number, to: number) => words.slice(from, to).every((word) => word === 0);
  if (zeros(0, 5) && (words[5] === 0xffff || words[5] === 0) && !(words[5] === 0 && words[6] === 0)) return toIpv4(words[6]!, words[7]!);
  if (words[0] === 0x64 && words[1] === 0xff9b && zeros(2, 6)) return toIpv4(words[6]!, words[7]!);
  if (words[0] === 0x2002) return toIpv4(words[1]!, words[2]!);
  return undefined;
}

/** Expands an IPv6 address into its eight 16-bit words, or undefined when it is not one. */
function expandIpv6(address: string): number[] | undefined {
  if (net.isIP(address) !== 6) return undefined;
  let text = address.split('%')[0]!;
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted !== null) {
    const bytes = dotted[1]!.split('.').map(Number);
    text = text.slice(0, -dotted[1]!.length) + `${((bytes[0]! << 8) | bytes[1]!).toString(16)}:${((bytes[2]! << 8) | bytes[3]!).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((word) => parseInt(word, 16)));
  const headWords = parse(head);
  const tailWords = tail === undefined ? [] : parse(tail);
  const fill = 8 - headWords.length - tailWords.length;
  return [...headWords, ...new Array<number>(tail === undefined ? 0 : fill).fill(0), ...tailWords];
}
