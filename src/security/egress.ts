/**
 * Egress policy: the one place that decides whether the server may open a connection somewhere
 * on a caller's say-so (OWASP SSRF Prevention Cheat Sheet; ASVS 5.2.6). A destination passes only
 * when its scheme, port and credentials are acceptable and every address its name resolves to is
 * public unicast, or the operator listed it in EGRESS_ALLOW.
 */
import { lookup } from 'node:dns/promises'
import ipaddr from 'ipaddr.js'

type Address = ipaddr.IPv4 | ipaddr.IPv6
type Cidr = [Address, number]

/** Resolves a host name to every A and AAAA address; replaceable so tests can play DNS. */
export type Resolver = (hostname: string) => Promise<readonly string[]>

export const systemResolver: Resolver = async (hostname) => {
  const answers = await lookup(hostname, { all: true, verbatim: true })
  return answers.map((answer) => answer.address)
}

export type Verdict =
  { readonly allowed: true } | { readonly allowed: false; readonly reason: string }

const ALLOW: Verdict = { allowed: true }
const deny = (reason: string): Verdict => ({ allowed: false, reason })

export const DEFAULT_EGRESS_PORTS: readonly number[] = [80, 443, 8080, 8443]
const SCHEMES: Readonly<Record<string, number>> = { 'http:': 80, 'https:': 443 }

/** A URL that passed the static checks; its addresses are still to be resolved and checked. */
export interface EgressTarget {
  readonly url: URL
  /** Host without IPv6 brackets and without a trailing dot. */
  readonly hostname: string
  readonly port: number
}

export type UrlVerdict =
  | { readonly allowed: true; readonly target: EgressTarget }
  | { readonly allowed: false; readonly reason: string }

const cidr = (text: string): Cidr => ipaddr.parseCIDR(text)

// Only 2000::/3 is allocated as global unicast (RFC 4291 2.4, IANA IPv6 address space); the rest
// is reserved, local or special. IPv4 needs no such list: ipaddr.js's table covers the whole IANA
// IPv4 special-purpose registry, and the unit tests pin each entry.
const GLOBAL_UNICAST_V6 = cidr('2000::/3')

// IPv6 ranges that ipaddr.js either lacks or folds into a wider name we must split.
const EXTRA_DENIED_V6: readonly (readonly [string, Cidr])[] = [
  ['ipv4Compatible', cidr('::/96')], // RFC 4291 2.5.5.1, deprecated
  ['localNat64', cidr('64:ff9b:1::/48')], // RFC 8215: local-use, never global
  ['dummyPrefix', cidr('100:0:0:1::/64')], // RFC 9780
]
const WELL_KNOWN_NAT64 = cidr('64:ff9b::/96') // RFC 6052 2.1: IPv4 in the last 32 bits

// RFC 6761 6.3: names under localhost must resolve to loopback, so they are refused by name too.
const LOCALHOST = /(^|\.)localhost$/

/** Normalises a host as the URL parser gives it: no IPv6 brackets, no trailing root dot. */
export function bareHost(host: string): string {
  const unbracketed = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host
  return unbracketed.replace(/\.$/, '').toLowerCase()
}

/** True for an address literal in strict notation (what a resolver or the URL parser yields). */
export function isAddressLiteral(host: string): boolean {
  return ipaddr.IPv4.isValidFourPartDecimal(host) || ipaddr.IPv6.isValid(host)
}

/**
 * Why an address is not public unicast, or undefined when it is. Transition forms that carry an
 * IPv4 address (mapped, translated, NAT64, 6to4, Teredo) are judged by that IPv4 address.
 */
export function nonPublicReason(address: Address): string | undefined {
  if (address.kind() === 'ipv4') {
    const range = address.range()
    return range === 'unicast' ? undefined : `ipv4 ${range}`
  }
  const v6 = address as ipaddr.IPv6
  const range = v6.range()
  if (range !== 'unicast' && !EMBEDDING.has(range)) return `ipv6 ${range}`
  const extra = EXTRA_DENIED_V6.find(([, block]) => within(v6, block))
  if (extra !== undefined) return `ipv6 ${extra[0]}`

  for (const { via, inner } of embeddedIPv4(v6)) {
    const reason = nonPublicReason(inner)
    if (reason !== undefined) return `ipv6 ${via} of ${reason}`
  }
  if (range === 'unicast' && !within(v6, GLOBAL_UNICAST_V6)) return 'ipv6 outside global unicast'
  return undefined
}

/** CIDR membership across both families (ipaddr.js refuses to compare mixed kinds). */
function within(address: Address, [base, bits]: Cidr): boolean {
  if (address.kind() === 'ipv4' && base.kind() === 'ipv4') {
    return (address as ipaddr.IPv4).match(base, bits)
  }
  if (address.kind() === 'ipv6' && base.kind() === 'ipv6') {
    return (address as ipaddr.IPv6).match(base, bits)
  }
  return false
}

const EMBEDDING = new Set(['ipv4Mapped', 'rfc6145', 'rfc6052', '6to4', 'teredo'])

/** The IPv4 addresses an IPv6 transition address carries, by its ipaddr.js range name. */
function embeddedIPv4(v6: ipaddr.IPv6): { via: string; inner: ipaddr.IPv4 }[] {
  const bytes = v6.toByteArray()
  const v4 = (from: number): ipaddr.IPv4 =>
    ipaddr.fromByteArray(bytes.slice(from, from + 4)) as ipaddr.IPv4
  switch (v6.range()) {
    case 'ipv4Mapped': // RFC 4291 2.5.5.2
    case 'rfc6145': // RFC 6145 IPv4-translated
      return [{ via: v6.range(), inner: v4(12) }]
    case 'rfc6052':
      return within(v6, WELL_KNOWN_NAT64) ? [{ via: 'nat64', inner: v4(12) }] : []
    case '6to4': // RFC 3056 2: 2002:V4ADDR::/48
      return [{ via: '6to4', inner: v4(2) }]
    case 'teredo': {
      // RFC 4380 4: server IPv4 in bits 32-63, client IPv4 in the last 32 bits, inverted.
      const client = ipaddr.fromByteArray(bytes.slice(12, 16).map((b) => b ^ 0xff)) as ipaddr.IPv4
      return [
        { via: 'teredo server', inner: v4(4) },
        { via: 'teredo client', inner: client },
      ]
    }
    default:
      return []
  }
}

export interface EgressOptions {
  /** EGRESS_ALLOW entries: IP addresses, CIDRs or host names the operator trusts. */
  readonly allow: readonly string[]
  readonly ports?: readonly number[]
}

/** The egress decisions, with the operator's allow list compiled once at startup. */
export class EgressPolicy {
  private readonly cidrs: readonly Cidr[]
  private readonly hosts: ReadonlySet<string>
  private readonly ports: ReadonlySet<number>

  constructor(options: EgressOptions) {
    const entries = options.allow.map((entry) => entry.trim()).filter((entry) => entry !== '')
    this.cidrs = entries.filter((e) => ipaddr.isValid(e) || e.includes('/')).map((e) => toCidr(e))
    this.hosts = new Set(
      entries.filter((e) => !ipaddr.isValid(e) && !e.includes('/')).map(bareHost),
    )
    this.ports = new Set(options.ports ?? DEFAULT_EGRESS_PORTS)
  }

  /** Static checks on a URL: scheme, credentials, port and, for a literal, the address itself. */
  checkUrl(input: string | URL): UrlVerdict {
    let url: URL
    try {
      // WHATWG URL parsing normalises 127.1, 0x7f.1, 2130706433 and 0177.0.0.1 to 127.0.0.1.
      url = new URL(input)
    } catch {
      return { allowed: false, reason: 'unparseable url' }
    }
    const defaultPort = SCHEMES[url.protocol]
    if (defaultPort === undefined) return { allowed: false, reason: `scheme ${url.protocol}` }
    if (url.username !== '' || url.password !== '')
      return { allowed: false, reason: 'userinfo in url' }

    const port = url.port === '' ? defaultPort : Number(url.port)
    if (!this.ports.has(port)) return { allowed: false, reason: `port ${port}` }

    const hostname = bareHost(url.hostname)
    const verdict = this.checkHostName(hostname)
    if (!verdict.allowed) return verdict
    url.hash = ''
    return { allowed: true, target: { url, hostname, port } }
  }

  /** A host name or literal before resolution: literals are judged here, names by their answers. */
  checkHostName(host: string): Verdict {
    const hostname = bareHost(host)
    if (hostname === '') return deny('empty host')
    if (isAddressLiteral(hostname)) return this.checkAddress(hostname, hostname)
    if (this.hosts.has(hostname)) return ALLOW
    if (LOCALHOST.test(hostname)) return deny('localhost name')
    return ALLOW
  }

  /** One resolved address, as it is about to be dialled for the given host name. */
  checkAddress(address: string, hostname: string): Verdict {
    if (!ipaddr.isValid(address)) return deny('unparseable address')
    if (this.hosts.has(bareHost(hostname))) return ALLOW

    const parsed = ipaddr.parse(address)
    if (this.trusted(parsed)) return ALLOW
    const reason = nonPublicReason(parsed)
    return reason === undefined ? ALLOW : deny(reason)
  }

  /** Every address of one answer must pass: a single private one denies the whole name. */
  checkAddresses(addresses: readonly string[], hostname: string): Verdict {
    if (addresses.length === 0) return deny('no address')
    for (const address of addresses) {
      const verdict = this.checkAddress(address, hostname)
      if (!verdict.allowed) return verdict
    }
    return ALLOW
  }

  private trusted(address: Address): boolean {
    // An IPv4-mapped address reaches the IPv4 host, so it is matched as that IPv4 address.
    const plain = address.kind() === 'ipv6' ? ipaddr.process(address.toString()) : address
    return this.cidrs.some((block) => within(plain, block))
  }
}

function toCidr(entry: string): Cidr {
  if (entry.includes('/')) return ipaddr.parseCIDR(entry)
  const address = ipaddr.parse(entry)
  return [address, address.kind() === 'ipv4' ? 32 : 128]
}

/** Resolves a checked host and checks every answer; literals are not resolved again. */
export async function resolveChecked(
  policy: EgressPolicy,
  resolver: Resolver,
  hostname: string,
): Promise<{ allowed: true; addresses: readonly string[] } | { allowed: false; reason: string }> {
  const host = bareHost(hostname)
  let addresses: readonly string[]
  try {
    addresses = isAddressLiteral(host) ? [host] : await resolver(host)
  } catch {
    return { allowed: false, reason: 'name does not resolve' }
  }
  const verdict = policy.checkAddresses(addresses, host)
  return verdict.allowed ? { allowed: true, addresses } : verdict
}

/** What the outbound modules are handed: the one policy and the resolver it checks with. */
export interface Egress {
  readonly policy: EgressPolicy
  readonly resolver: Resolver
}
