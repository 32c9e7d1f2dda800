import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { FieldCipher } from '../../src/security/field-cipher.js'
import { BoundedLru } from '../../src/security/lru.js'
import { PasswordPolicy } from '../../src/security/password-policy.js'
import { BoundedSemaphore } from '../../src/security/semaphore.js'
import { TokenService } from '../../src/security/tokens.js'
import { ManualClock } from '../helpers/server.js'

describe('password policy', () => {
  const policy = new PasswordPolicy({ compositionRules: true })
  const relaxed = new PasswordPolicy({ compositionRules: false })

  it('ships a common-password blocklist of at least 10,000 entries', () => {
    expect(policy.blocklistSize).toBeGreaterThanOrEqual(10_000)
  })

  it('refuses blocklisted passwords case-insensitively', () => {
    for (const password of ['password1234', 'PASSWORD1234', 'qwertyuiop123']) {
      expect(relaxed.check(password).join(' ')).toMatch(/common/)
    }
  })

  it('counts length in characters, so 12 emoji pass and 11 do not', () => {
    expect(relaxed.check('\u{1F600}'.repeat(12))).toEqual([])
    expect(relaxed.check('\u{1F600}'.repeat(11))).toEqual(['must be at least 12 characters'])
    expect(relaxed.check('x'.repeat(129))).toEqual(['must be at most 128 characters'])
  })

  it('refuses the username or email local part inside the password', () => {
    expect(relaxed.check('my-alice_77-secret', { username: 'Alice_77' })).toContain(
      'must not contain the username or email',
    )
    expect(relaxed.check('zz-bobsmith-zz-zz', { email: 'BobSmith@example.com' })).toContain(
      'must not contain the username or email',
    )
  })

  it('asks for upper, lower, digit and special when composition rules are on, and not when off', () => {
    expect(policy.check('alllowercaseletters').join(' ')).toMatch(
      /uppercase letter.*digit.*special/,
    )
    expect(policy.check('Tr0ub4dor&3-horse')).toEqual([])
    expect(relaxed.check('alllowercaseletters')).toEqual([])
  })
})

describe('field cipher', () => {
  const key = (kid: string) => ({ kid, key: randomBytes(32) })

  it('round-trips, never stores the plaintext and uses a fresh nonce each time', () => {
    const cipher = new FieldCipher([key('k1')])
    const a = cipher.encrypt('AB123456C', 'users.national_id')
    const b = cipher.encrypt('AB123456C', 'users.national_id')
    expect(a).not.toBe(b)
    expect(a).not.toContain('AB123456C')
    expect(cipher.decrypt(a, 'users.national_id')).toBe('AB123456C')
  })

  it('refuses a tampered value, another column, or an unknown key', () => {
    const cipher = new FieldCipher([key('k1')])
    const stored = cipher.encrypt('secret', 'users.national_id')
    const parts = stored.split('.')
    const body = Buffer.from(parts[3] ?? '', 'base64url')
    body[0] = (body[0] ?? 0) ^ 1
    parts[3] = body.toString('base64url')
    expect(() => cipher.decrypt(parts.join('.'), 'users.national_id')).toThrow()
    expect(() => cipher.decrypt(stored, 'users.phone')).toThrow()
    expect(() => new FieldCipher([key('k2')]).decrypt(stored, 'users.national_id')).toThrow()
  })

  it('decrypts with any configured key, encrypts with the first, and flags stale values', () => {
    const old = key('old')
    const fresh = key('new')
    const before = new FieldCipher([old]).encrypt('v', 'f')
    const rotated = new FieldCipher([fresh, old])
    expect(rotated.decrypt(before, 'f')).toBe('v')
    expect(rotated.isStale(before)).toBe(true)
    expect(rotated.isStale(rotated.encrypt('v', 'f'))).toBe(false)
  })
})

describe('bounded structures', () => {
  it('the LRU never holds more than its bound and evicts the least recently used', () => {
    const lru = new BoundedLru<number, number>(3)
    for (let i = 0; i < 100; i++) lru.set(i, i)
    expect(lru.size).toBe(3)
    expect(lru.get(97)).toBe(97)
    lru.set(100, 100)
    expect(lru.get(98)).toBeUndefined()
    expect(lru.get(97)).toBe(97)
  })

  it('the semaphore runs at most its limit at once and refuses work beyond its queue', async () => {
    const gate = new BoundedSemaphore(2, 1)
    let running = 0
    let peak = 0
    const releases: (() => void)[] = []
    const task = () =>
      new Promise<string>((resolve) => {
        running++
        peak = Math.max(peak, running)
        releases.push(() => {
          running--
          resolve('done')
        })
      })
    const first = gate.run(task)
    const second = gate.run(task)
    const queued = gate.run(task)
    expect(await gate.run(task)).toBeUndefined()
    while (releases.length > 0 || running > 0) {
      releases.shift()?.()
      await new Promise((resolve) => setImmediate(resolve))
    }
    expect(await Promise.all([first, second, queued])).toEqual([
      { value: 'done' },
      { value: 'done' },
      { value: 'done' },
    ])
    expect(peak).toBe(2)
  })
})

describe('token service', () => {
  it('a cached verification never outlives the token expiry', async () => {
    const clock = new ManualClock()
    const tokens = new TokenService({
      key: { kind: 'secret', material: randomBytes(32).toString('base64url') },
      issuer: 'i',
      audience: 'a',
      ttlSeconds: 60,
      clock,
    })
    const { token } = await tokens.issueAccess('user-1', 'session-1')
    expect(await tokens.verifyAccess(token)).toMatchObject({ sub: 'user-1', sid: 'session-1' })
    expect(await tokens.verifyAccess(token)).toMatchObject({ sub: 'user-1' })
    clock.advance(61_000)
    expect(await tokens.verifyAccess(token)).toBeUndefined()
  })

  it('rejects tokens from another issuer or audience with the same key', async () => {
    const clock = new ManualClock()
    const key = { kind: 'secret' as const, material: randomBytes(32).toString('base64url') }
    const ours = new TokenService({
      key,
      issuer: 'rampart',
      audience: 'api',
      ttlSeconds: 60,
      clock,
    })
    for (const [issuer, audience] of [
      ['other', 'api'],
      ['rampart', 'other'],
    ] as const) {
      const foreign = new TokenService({ key, issuer, audience, ttlSeconds: 60, clock })
      const { token } = await foreign.issueAccess('u', 's')
      expect(await ours.verifyAccess(token)).toBeUndefined()
    }
  })
})
