import { describe, expect, it } from 'vitest'
import { isValidPingHost, parsePing } from '../../../src/modules/diagnostics/ping.js'

describe('ping host validation', () => {
  it.each([
    'example.com',
    'a.b-c.example',
    'host',
    'xn--bcher-kva.example',
    'example.com.',
    '1.1.1.1',
    '::1',
    '2606:4700::1111',
    '::ffff:127.0.0.1',
    '3com.example',
  ])('%s is a host name or IP literal', (host) => {
    expect(isValidPingHost(host)).toBe(true)
  })

  it.each([
    '127.1',
    '2130706433',
    '0x7f.0.0.1',
    '0177.0.0.1',
    '1.2.3.4.5',
    '-f',
    '-host.example',
    'host-.example',
    'a_b.example',
    'a..b',
    '.example',
    'fe80::1%eth0',
    '[::1]',
    'host example',
    'host;id',
    'host\nid',
    '$(id)',
    '`id`',
    'h\u00f6st.example',
    '',
    `${'a'.repeat(64)}.example`,
    `${'a.'.repeat(127)}ab`,
  ])('%j is refused', (host) => expect(isValidPingHost(host)).toBe(false))
})

describe('ping output', () => {
  const reply = [
    'PING 127.0.0.1 (127.0.0.1) 56(84) bytes of data.',
    '64 bytes from 127.0.0.1: icmp_seq=1 ttl=64 time=0.041 ms',
    '',
    '1 packets transmitted, 1 received, 0% packet loss, time 0ms',
  ].join('\n')

  it('a reply gives reachable and its round-trip time', () => {
    expect(parsePing(0, reply)).toEqual({ reachable: true, rttMs: 0.041 })
    expect(parsePing(0, '64 bytes from ::1: icmp_seq=1 ttl=64 time<1 ms')).toEqual({
      reachable: true,
      rttMs: 1,
    })
  })

  it('no reply, or a failing exit code, is unreachable without a time', () => {
    expect(parsePing(1, '1 packets transmitted, 0 received, 100% packet loss, time 0ms')).toEqual({
      reachable: false,
      rttMs: null,
    })
    expect(parsePing(2, reply)).toEqual({ reachable: false, rttMs: null })
  })
})
