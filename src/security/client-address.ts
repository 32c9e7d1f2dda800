/**
 * The client address a limit is keyed on: request.ip exactly as Fastify resolved it through
 * TRUST_PROXY (so a forged X-Forwarded-For from an untrusted peer changes nothing), reduced to
 * the network one subscriber controls. An IPv6 client is keyed by its /64, the smallest prefix
 * an ISP assigns to a site (RFC 6177, RIPE-690): keying single addresses would let one host
 * rotate through 2^64 of them.
 */
import ipaddr from 'ipaddr.js'

const IPV6_SITE_PREFIX = 64

export function limitKeyForAddress(ip: string): string {
  if (!ipaddr.isValid(ip)) return ip
  // process() turns an IPv4-mapped IPv6 address (::ffff:192.0.2.1) back into plain IPv4.
  const address = ipaddr.process(ip)
  if (address.kind() === 'ipv4') return address.toString()

  const bytes = address.toByteArray().slice(0, IPV6_SITE_PREFIX / 8)
  const network = ipaddr.fromByteArray([...bytes, ...new Array<number>(8).fill(0)])
  return `${network.toString()}/${IPV6_SITE_PREFIX}`
}
