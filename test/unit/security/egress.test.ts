import ipaddr from 'ipaddr.js'
import { describe, expect, it } from 'vitest'
import {
  EgressPolicy,
  nonPublicReason,
  resolveChecked,
  type Resolver,
} from '../../../src/security/egress.js'

const reasonOf = (address: string): string | undefined => nonPublicReason(ipaddr.parse(address))

// One row per IANA IPv4 special-purpose block (first and last address where it matters).
const V4_DENIED: readonly [string, string][] = [
  ['0.0.0.0', 'unspecified'],
  ['0.255.255.255', 'unspecified'],
  ['10.0.0.1', 'private'],
  ['10.255.255.255', 'private'],
  ['100.64.0.1', 'carrierGradeNat'],
  ['100.127.255.254', 'carrierGradeNat'],
  ['127.0.0.1', 'loopback'],
  ['127.255.255.254', 'loopback'],
  ['169.254.169.254', 'linkLocal'],
  ['172.16.0.1', 'private'],
  ['172.31.255.255', 'private'],
  ['192.0.0.8', 'reserved'],
  ['192.0.0.170', 'reserved'],
  ['192.0.2.1', 'reserved'],
  ['192.31.196.1', 'as112'],
  ['192.52.193.1', 'amt'],
  ['192.88.99.1', 'reserved'],
  ['192.168.1.1', 'private'],
  ['192.175.48.1', 'as112'],
  ['198.18.0.1', 'reserved'],
  ['198.19.255.255', 'reserved'],
  ['198.51.100.7', 'reserved'],
  ['203.0.113.9', 'reserved'],
  ['224.0.0.1', 'multicast'],
  ['239.255.255.250', 'multicast'],
  ['240.0.0.1', 'reserved'],
  ['255.255.255.254', 'reserved'],
  ['255.255.255.255', 'broadcast'],
]

const V4_PUBLIC = [
  '1.1.1.1',
  '8.8.8.8',
  '9.9.9.9',
  '100.63.255.255',
  '100.128.0.0',
  '172.15.255.255',
  '172.32.0.0',
  '192.0.3.1',
  '198.17.255.255',
  '198.20.0.0',
  '223.255.255.255',
  '11.0.0.1',
]

// IANA IPv6 special-purpose registry and the transition forms that embed an IPv4 address.
const V6_DENIED: readonly [string, string][] = [
  ['::', 'unspecified'],
  ['::1', 'loopback'],
  ['::7f00:1', 'ipv4Compatible'],
  ['::a00:1', 'ipv4Compatible'],
  ['::ffff:127.0.0.1', 'ipv4Mapped of ipv4 loopback'],
  ['::ffff:7f00:1', 'ipv4Mapped of ipv4 loopback'],
  ['::ffff:10.0.0.1', 'ipv4Mapped of ipv4 private'],
  ['::ffff:169.254.169.254', 'ipv4Mapped of ipv4 linkLocal'],
  ['::ffff:0:127.0.0.1', 'rfc6145 of ipv4 loopback'],
  ['64:ff9b::127.0.0.1', 'nat64 of ipv4 loopback'],
  ['64:ff9b::a9fe:a9fe', 'nat64 of ipv4 linkLocal'],
  ['64:ff9b::c0a8:101', 'nat64 of ipv4 private'],
  ['64:ff9b:1::1.1.1.1', 'localNat64'],
  ['100::1', 'discard'],
  ['100:0:0:1::1', 'dummyPrefix'],
  ['2001::1', 'teredo server of ipv4 unspecified'],
  ['2001:0:4136:e378:8000:63bf:80ff:fffe', 'teredo client of ipv4 loopback'],
  ['2001:0:7f00:1::1', 'teredo server of ipv4 loopback'],
  ['2001:1::1', 'reserved'],
  ['2001:2::1', 'benchmarking'],
  ['2001:3::1', 'amt'],
  ['2001:4:112::1', 'as112v6'],
  ['2001:10::1', 'deprecatedOrchid'],
  ['2001:20::1', 'orchid2'],
  ['2001:30::1', 'droneRemoteIdProtocolEntityTags'],
  ['2001:db8::1', 'reserved'],
  ['2002:7f00:1::1', '6to4 of ipv4 loopback'],
  ['2002:a9fe:a9fe::1', '6to4 of ipv4 linkLocal'],
  ['2002:c0a8:101::1', '6to4 of ipv4 private'],
  ['2620:4f:8000::1', 'as112v6'],
  ['3fff::1', 'reserved'],
  ['5f00::1', 'segmentRouting'],
  ['fc00::1', 'uniqueLocal'],
  ['fd12:3456::1', 'uniqueLocal'],
  ['fe80::1', 'linkLocal'],
  ['febf::1', 'linkLocal'],
  ['fec0::1', 'deprecatedSiteLocal'],
  ['ff02::1', 'multicast'],
  ['4000::1', 'outside global unicast'],
  ['e000::1', 'outside global unicast'],
]

const V6_PUBLIC = [
  '2606:4700:4700::1111',
  '2a00:1450:4001::1',
  '::ffff:1.1.1.1',
  '64:ff9b::808:808',
  '2002:808:808::1',
  '2001:0:4136:e378:8000:63bf:f7f7:f7f7',
]

describe('address ranges', () => {
  it.each(V4_DENIED)('IPv4 %s is not public unicast (%s)', (address, range) => {
    expect(reasonOf(address)).toBe(`ipv4 ${range}`)
  })

  it.each(V4_PUBLIC)('IPv4 %s is public unicast', (address) => {
    expect(reasonOf(address)).toBeUndefined()
  })

  it.each(V6_DENIED)('IPv6 %s is not public unicast (%s)', (address, reason) => {
    expect(reasonOf(address)).toBe(`ipv6 ${reason}`)
  })

  it.each(V6_PUBLIC)('IPv6 %s is public unicast, judged by any IPv4 it carries', (address) => {
    expect(reasonOf(address)).toBeUndefined()
  })
})

describe('URL checks', () => {
  const policy = new EgressPolicy({ allow: [] })

  it.each(
    [
      ['http://127.1/', 'ipv4 loopback'],
      ['http://0x7f.1/', 'ipv4 loopback'],
      ['http://2130706433/', 'ipv4 loopback'],
      ['http://0177.0.0.1/', 'ipv4 loopback'],
      ['http://017700000001/', 'ipv4 loopback'],
      ['http://0x7f000001/', 'ipv4 loopback'],
      ['http://%31%32%37.0.0.1/', 'ipv4 loopback'],
      ['http://0/', 'ipv4 unspecified'],
      ['http://[::]/', 'ipv6 unspecified'],
      ['http://[::ffff:127.0.0.1]/', 'ipv6 ipv4Mapped of ipv4 loopback'],
      ['http://[0:0:0:0:0:ffff:7f00:1]/', 'ipv6 ipv4Mapped of ipv4 loopback'],
      ['http://localhost/', 'localhost name'],
      ['http://localhost./', 'localhost name'],
      ['http://LOCALHOST/', 'localhost name'],
      ['http://app.localhost/', 'localhost name'],
      ['http://evil@example.com/', 'userinfo in url'],
      ['http://:pw@example.com/', 'userinfo in url'],
      ['file:///etc/passwd', 'scheme file:'],
      ['gopher://example.com/', 'scheme gopher:'],
      ['ftp://example.com/', 'scheme ftp:'],
      ['data:text/plain,hi', 'scheme data:'],
      ['http://example.com:22/', 'port 22'],
      ['https://example.com:6379/', 'port 6379'],
      ['http://example.com:25/', 'port 25'],
      ['not a url', 'unparseable url'],
    ].map(([url, reason]) => [url, reason] as [string, string]),
  )('%s is refused (%s)', (url, reason) => {
    expect(policy.checkUrl(url)).toEqual({ allowed: false, reason })
  })

  it('https://example.com:443/ counts the default port as allowed', () => {
    const verdict = policy.checkUrl('https://example.com:443/a#frag')
    expect(verdict.allowed && verdict.target).toMatchObject({ hostname: 'example.com', port: 443 })
    expect(verdict.allowed && verdict.target.url.href).toBe('https://example.com/a')
  })

  it.each(['http://example.com/', 'https://example.com:8443/', 'http://example.com:8080/x?q=1'])(
    '%s passes the static checks',
    (url) => expect(policy.checkUrl(url).allowed).toBe(true),
  )

  it('a fragment carrying an @ cannot change the host', () => {
    expect(policy.checkUrl('http://127.0.0.1#@example.com/')).toEqual({
      allowed: false,
      reason: 'ipv4 loopback',
    })
  })

  it('operator ports replace the default list', () => {
    const custom = new EgressPolicy({ allow: [], ports: [8081] })
    expect(custom.checkUrl('http://example.com:8081/').allowed).toBe(true)
    expect(custom.checkUrl('http://example.com/')).toEqual({ allowed: false, reason: 'port 80' })
  })
})

describe('the operator allow list', () => {
  const policy = new EgressPolicy({
    allow: ['127.0.0.1', '10.1.0.0/16', 'intranet.example', 'fd00::/8'],
  })

  it('allows listed addresses and CIDRs and nothing next to them', () => {
    expect(policy.checkAddress('127.0.0.1', 'x.example')).toEqual({ allowed: true })
    expect(policy.checkAddress('::ffff:127.0.0.1', 'x.example')).toEqual({ allowed: true })
    expect(policy.checkAddress('10.1.200.3', 'x.example')).toEqual({ allowed: true })
    expect(policy.checkAddress('fd00::5', 'x.example')).toEqual({ allowed: true })
    expect(policy.checkAddress('127.0.0.2', 'x.example').allowed).toBe(false)
    expect(policy.checkAddress('10.2.0.1', 'x.example').allowed).toBe(false)
  })

  it('a listed host name is trusted whatever it resolves to, and only that name', () => {
    expect(policy.checkAddress('10.9.9.9', 'intranet.example')).toEqual({ allowed: true })
    expect(policy.checkAddress('10.9.9.9', 'intranet.example.')).toEqual({ allowed: true })
    expect(policy.checkAddress('10.9.9.9', 'evil.intranet.example').allowed).toBe(false)
  })
})

describe('resolved answers', () => {
  const policy = new EgressPolicy({ allow: [] })
  const answers =
    (list: string[]): Resolver =>
    async () =>
      list

  it('one private address among public ones denies the name', async () => {
    const verdict = await resolveChecked(policy, answers(['1.1.1.1', '10.0.0.1']), 'mixed.example')
    expect(verdict).toEqual({ allowed: false, reason: 'ipv4 private' })
  })

  it('a private AAAA answer denies the name even when the A answer is public', async () => {
    const verdict = await resolveChecked(policy, answers(['1.1.1.1', 'fd00::1']), 'mixed.example')
    expect(verdict).toEqual({ allowed: false, reason: 'ipv6 uniqueLocal' })
  })

  it('no answer and a failing resolver both deny', async () => {
    expect(await resolveChecked(policy, answers([]), 'empty.example')).toEqual({
      allowed: false,
      reason: 'no address',
    })
    const failing: Resolver = async () => Promise.reject(new Error('ENOTFOUND'))
    expect(await resolveChecked(policy, failing, 'gone.example')).toEqual({
      allowed: false,
      reason: 'name does not resolve',
    })
  })

  it('an answer that is not an address denies the name', async () => {
    expect(await resolveChecked(policy, answers(['1.1.1.1', 'bogus']), 'x.example')).toEqual({
      allowed: false,
      reason: 'unparseable address',
    })
  })

  it('all-public answers pass and are handed back for dialling', async () => {
    expect(
      await resolveChecked(policy, answers(['1.1.1.1', '2606:4700::1']), 'ok.example'),
    ).toEqual({
      allowed: true,
      addresses: ['1.1.1.1', '2606:4700::1'],
    })
  })
})
