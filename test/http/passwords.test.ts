import argon2 from 'argon2'
import bcrypt from 'bcrypt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Client, signupAndLogin } from '../helpers/client.js'
import { startTestServer, type TestServer } from '../helpers/server.js'

/** True for an Argon2id PHC string with exactly the OWASP parameters, in any parameter order. */
function isOwaspArgon2id(hash: string): boolean {
  const [, algorithm, version, params] = hash.split('$')
  const fields = Object.fromEntries((params ?? '').split(',').map((kv) => kv.split('=')))
  return (
    algorithm === 'argon2id' &&
    version === 'v=19' &&
    fields.m === '19456' &&
    fields.t === '2' &&
    fields.p === '1'
  )
}

describe('password storage', () => {
  let server: TestServer
  let client: Client
  beforeAll(async () => {
    server = await startTestServer()
    client = new Client(server.url)
  })
  afterAll(() => server.close())

  const hashOf = async (id: string) =>
    (
      await server.ctx.db
        .selectFrom('users')
        .select('password_hash')
        .where('id', '=', id)
        .executeTakeFirstOrThrow()
    ).password_hash
  const setHash = (id: string, hash: string) =>
    server.ctx.db.updateTable('users').set({ password_hash: hash }).where('id', '=', id).execute()
  const login = (username: string, password: string) =>
    client.post('/login', { json: { username, password } })

  it('stores Argon2id with m=19456, t=2, p=1 and never the password', async () => {
    const alice = await signupAndLogin(client, 'argon')
    const hash = await hashOf(alice.id)
    expect(isOwaspArgon2id(hash)).toBe(true)
    expect(hash).not.toContain(alice.password)
  })

  it('a legacy bcrypt cost-12 hash verifies and is rehashed to Argon2id at the next login', async () => {
    const alice = await signupAndLogin(client, 'bcrypt')
    const legacy = await bcrypt.hash(alice.password, 12)
    expect(legacy.startsWith('$2b$12$')).toBe(true)
    await setHash(alice.id, legacy)

    const wrong = await login(alice.username, `${alice.password}x`)
    expect(wrong.status).toBe(401)
    expect(await hashOf(alice.id)).toBe(legacy)

    const ok = await login(alice.username, alice.password)
    expect(ok.status).toBe(200)
    const rehashed = await hashOf(alice.id)
    expect(isOwaspArgon2id(rehashed)).toBe(true)
    expect(await argon2.verify(rehashed, alice.password)).toBe(true)
    expect((await login(alice.username, alice.password)).status).toBe(200)
    const events = await server.ctx.db
      .selectFrom('security_events')
      .select('type')
      .where('user_id', '=', alice.id)
      .where('type', '=', 'authn_login_rehash')
      .execute()
    expect(events).toHaveLength(1)
  })

  it('an Argon2 hash with weaker parameters is rehashed at the next successful login only', async () => {
    const alice = await signupAndLogin(client, 'weak')
    const weak = await argon2.hash(alice.password, {
      type: argon2.argon2id,
      memoryCost: 8192,
      timeCost: 1,
      parallelism: 1,
    })
    await setHash(alice.id, weak)
    expect((await login(alice.username, 'Wr0ng!password-zz')).status).toBe(401)
    expect(await hashOf(alice.id)).toBe(weak)
    expect((await login(alice.username, alice.password)).status).toBe(200)
    expect(isOwaspArgon2id(await hashOf(alice.id))).toBe(true)
  })

  it('an argon2i hash is upgraded to argon2id', async () => {
    const alice = await signupAndLogin(client, 'argon2i')
    await setHash(
      alice.id,
      await argon2.hash(alice.password, {
        type: argon2.argon2i,
        memoryCost: 19456,
        timeCost: 2,
        parallelism: 1,
      }),
    )
    expect((await login(alice.username, alice.password)).status).toBe(200)
    expect(isOwaspArgon2id(await hashOf(alice.id))).toBe(true)
  })

  it('a current hash is left alone at login', async () => {
    const alice = await signupAndLogin(client, 'stable')
    const before = await hashOf(alice.id)
    expect((await login(alice.username, alice.password)).status).toBe(200)
    expect(await hashOf(alice.id)).toBe(before)
  })

  it('a corrupt stored hash is a failed login, not a 500', async () => {
    const alice = await signupAndLogin(client, 'corrupt')
    for (const hash of ['', 'garbage', '$argon2id$v=19$m=1,t=1,p=1$bad', '$2b$12$short']) {
      await setHash(alice.id, hash)
      expect((await login(alice.username, alice.password)).status).toBe(401)
    }
  })
})
