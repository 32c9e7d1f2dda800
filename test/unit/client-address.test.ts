import { describe, expect, it } from 'vitest'
import { limitKeyForAddress } from '../../src/security/client-address.js'

describe('limit keys for client addresses', () => {
  it('keys an IPv4 client by its own address', () => {
    expect(limitKeyForAddress('203.0.113.9')).toBe('203.0.113.9')
  })

  it('keys an IPv4-mapped IPv6 client as the IPv4 address it is', () => {
    expect(limitKeyForAddress('::ffff:203.0.113.9')).toBe('203.0.113.9')
  })

  it('keys every address of one IPv6 /64 alike and neighbouring /64s apart', () => {
    const key = limitKeyForAddress('2001:db8:aa:bb:1:2:3:4')
    expect(key).toBe('2001:db8:aa:bb::/64')
    expect(limitKeyForAddress('2001:db8:aa:bb:ffff:ffff:ffff:ffff')).toBe(key)
    expect(limitKeyForAddress('2001:db8:aa:bc::1')).not.toBe(key)
  })
})
