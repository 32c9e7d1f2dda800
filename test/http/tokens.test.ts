import { createHmac, generateKeyPairSync } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { tmpdir } from 'node:os'
import { SignJWT, decodeJwt } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Client, accountWithRoles, signupAndLogin, type Account } from '../helpers/client.js'
import { ManualClock, roleSetter, startTestServer, type TestServer } from '../helpers/server.js'

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')

/** Builds a compact JWS by hand, so tests can make tokens jose itself refuses to sign. */
function handMade(
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
  key: string | Buffer | null,
): string {
  const input = `${b64(header)}.${b64(payload)}`
  if (key === null) return `${input}.`
  return `${input}.${createHmac('sha256', key).update(input).digest('base64url')}`
}

async function sessionEvents(server: TestServer, type: string) {
  return server.ctx.db.selectFrom('security_events').selectAll().where('type', '=', type).execute()
}

describe('access tokens (HS256)', () => {
  let server: TestServer
  let client: Client
  let clock: ManualClock
  let secret: string
  beforeAll(async () => {
    clock = new ManualClock()
    secret = 'Zk3v9QpX2mR8tL5wN1bC7yH4jF6gD0sA-hs256-key'
    server = await startTestServer({ clock, env: { JWT_SECRET: secret } })
    client = new Client(server.url)
  })
  afterAll(() => server.close())

  const me = (token: string) => client.get('/users/me', { token })

  it('a fresh access token works and carries sub, jti, iat, exp, iss, aud and a token type', async () => {
    const alice = await signupAndLogin(client, 'tok')
    expect((await me(alice.access)).status).toBe(200)
    const claims = decodeJwt(alice.access)
    expect(claims).toMatchObject({
      sub: alice.id,
      iss: 'rampart',
      aud: 'rampart-api',
      token_type: 'access',
    })
    for (const claim of ['jti', 'iat', 'exp', 'sid']) expect(claims).toHaveProperty(claim)
    expect((claims.exp ?? 0) - (claims.iat ?? 0)).toBe(900)
  })

  it('the token response is no-store and has token_type bearer and expires_in', async () => {
    const alice = await signupAndLogin(client, 'tokr')
    const reply = await client.post('/login', {
      json: { username: alice.username, password: alice.password },
    })
    expect(reply.status).toBe(200)
    expect(reply.body.token_type).toBe('bearer')
    expect(reply.body.expires_in).toBe(900)
    expect(reply.headers.get('cache-control')).toBe('no-store')
  })

  it('refuses alg none, an empty key and a wrong key', async () => {
    const alice = await signupAndLogin(client, 'forge')
    const claims = decodeJwt(alice.access)
    for (const alg of ['none', 'None', 'NONE']) {
      expect((await me(handMade({ alg, typ: 'at+jwt' }, claims, null))).status).toBe(401)
    }
    expect((await me(handMade({ alg: 'HS256', typ: 'at+jwt' }, claims, ''))).status).toBe(401)
    expect(
      (
        await me(
          handMade(
            { alg: 'HS256', typ: 'at+jwt' },
            claims,
            'a-different-secret-of-enough-length!!',
          ),
        )
      ).status,
    ).toBe(401)
    expect((await me(handMade({ alg: 'HS512', typ: 'at+jwt' }, claims, secret))).status).toBe(401)
    // The same hand-made path with the real key does pass, so the refusals above are meaningful.
    expect((await me(handMade({ alg: 'HS256', typ: 'at+jwt' }, claims, secret))).status).toBe(200)
  })

  it('refuses a tampered payload', async () => {
    const alice = await signupAndLogin(client, 'tamper')
    const bob = await signupAndLogin(client, 'tamperb')
    const [header, , signature] = alice.access.split('.')
    const forged = `${header}.${b64({ ...decodeJwt(alice.access), sub: bob.id })}.${signature}`
    expect((await me(forged)).status).toBe(401)
    const [h, p] = alice.access.split('.')
    expect((await me(`${h}.${p}.${'A'.repeat(43)}`)).status).toBe(401)
  })

  it.each([
    ['a wrong issuer', { iss: 'someone-else' }, {}],
    ['a wrong audience', { aud: 'other-api' }, {}],
    ['a wrong typ header', {}, { typ: 'JWT' }],
    ['no token type', { token_type: undefined }, {}],
    ['a refresh token type', { token_type: 'refresh' }, {}],
    ['no session id', { sid: undefined }, {}],
  ])('refuses a correctly signed token with %s', async (_label, claimChanges, headerChanges) => {
    const alice = await signupAndLogin(client, 'claims')
    const claims = { ...decodeJwt(alice.access), ...claimChanges }
    const header = { alg: 'HS256', typ: 'at+jwt', ...headerChanges }
    expect((await me(handMade(header, claims, secret))).status).toBe(401)
  })

  it('refuses an expired token (15 minutes) and takes it at 14 minutes', async () => {
    const alice = await signupAndLogin(client, 'exp')
    clock.advance(14 * 60 * 1000)
    expect((await me(alice.access)).status).toBe(200)
    clock.advance(2 * 60 * 1000)
    expect((await me(alice.access)).status).toBe(401)
  })

  it('refuses a refresh token as an access token, and an access token as a refresh token', async () => {
    const alice = await signupAndLogin(client, 'swap')
    expect((await me(alice.refresh)).status).toBe(401)
    const reply = await client.post('/token/refresh', { json: { refresh_token: alice.access } })
    expect(reply.status).toBe(401)
    expect(reply.headers.get('www-authenticate')).toMatch(/^Bearer/)
  })

  it('refuses malformed Authorization headers', async () => {
    const alice = await signupAndLogin(client, 'hdr')
    for (const authorization of [
      `Basic ${alice.access}`,
      alice.access,
      'Bearer',
      'Bearer ',
      `Bearer ${alice.access} extra`,
      `Bearer ${'a'.repeat(5000)}`,
    ]) {
      const reply = await client.get('/users/me', { headers: { authorization } })
      expect(reply.status, authorization.slice(0, 20)).toBe(401)
    }
  })
})

describe('sessions: logout, revocation and refresh rotation', () => {
  let server: TestServer
  let client: Client
  let admin: Account
  beforeAll(async () => {
    server = await startTestServer()
    client = new Client(server.url)
    admin = await accountWithRoles(client, roleSetter(server), ['admin'], 'root')
  })
  afterAll(() => server.close())

  const me = (token: string) => client.get('/users/me', { token })
  const refresh = (token: string) =>
    client.post('/token/refresh', { json: { refresh_token: token } })

  it('POST /token accepts form encoding; /login accepts JSON', async () => {
    const alice = await signupAndLogin(client, 'form')
    const form = await client.post('/token', {
      form: { username: alice.username, password: alice.password },
    })
    expect(form.status).toBe(200)
    expect(form.body.token_type).toBe('bearer')
    expect((await me(form.body.access_token)).status).toBe(200)
    const json = await client.post('/login', {
      json: { username: alice.username, password: alice.password },
    })
    expect(json.status).toBe(200)
  })

  it('a login failure is one identical 401 for an unknown user and a wrong password', async () => {
    const alice = await signupAndLogin(client, 'fail')
    const unknown = await client.post('/login', {
      json: { username: 'nobody_here_xyz', password: alice.password },
    })
    const wrong = await client.post('/login', {
      json: { username: alice.username, password: 'Wrong!password-123' },
    })
    const wrongForm = await client.post('/token', {
      form: { username: alice.username, password: 'Wrong!password-123' },
    })
    expect(unknown.status).toBe(401)
    expect(wrong.status).toBe(401)
    expect(unknown.text).toBe(wrong.text.replace('/login', '/login'))
    expect(unknown.body).toEqual(wrong.body)
    expect({ ...wrongForm.body, instance: '/login' }).toEqual(wrong.body)
    expect(unknown.headers.get('www-authenticate')).toBe(wrong.headers.get('www-authenticate'))
  })

  it('a refresh returns a new pair and spends the presented token', async () => {
    const alice = await signupAndLogin(client, 'rot')
    const first = await refresh(alice.refresh)
    expect(first.status).toBe(200)
    expect(first.body.refresh_token).not.toBe(alice.refresh)
    expect(first.headers.get('cache-control')).toBe('no-store')
    expect((await me(first.body.access_token)).status).toBe(200)
    const second = await refresh(first.body.refresh_token)
    expect(second.status).toBe(200)
  })

  it('reusing a spent refresh token revokes the whole family and records authn_token_reuse', async () => {
    const alice = await signupAndLogin(client, 'reuse')
    const rotated = await refresh(alice.refresh)
    expect(rotated.status).toBe(200)
    const replay = await refresh(alice.refresh)
    expect(replay.status).toBe(401)
    expect((await me(rotated.body.access_token)).status).toBe(401)
    expect((await me(alice.access)).status).toBe(401)
    expect((await refresh(rotated.body.refresh_token)).status).toBe(401)
    const events = (await sessionEvents(server, 'authn_token_reuse')).filter(
      (e) => e.user_id === alice.id,
    )
    expect(events).toHaveLength(1)
    expect(events[0]?.outcome).toBe('blocked')
    // Other sessions of the same user are untouched.
    const other = await client.post('/login', {
      json: { username: alice.username, password: alice.password },
    })
    expect((await me(other.body.access_token)).status).toBe(200)
  })

  it('at most one of many concurrent refreshes with one token succeeds', async () => {
    const alice = await signupAndLogin(client, 'race')
    const replies = await Promise.all(Array.from({ length: 8 }, () => refresh(alice.refresh)))
    const ok = replies.filter((r) => r.status === 200)
    expect(ok.length).toBeLessThanOrEqual(1)
    for (const reply of replies) expect([200, 401]).toContain(reply.status)
    const fresh = await server.ctx.db
      .selectFrom('refresh_tokens')
      .innerJoin('sessions', 'sessions.id', 'refresh_tokens.session_id')
      .select('refresh_tokens.id')
      .where('sessions.user_id', '=', alice.id)
      .where('refresh_tokens.used_at', 'is', null)
      .where('sessions.revoked_at', 'is', null)
      .execute()
    expect(fresh.length).toBeLessThanOrEqual(1)
  })

  it("after logout this session's access and refresh tokens stop working; other sessions live", async () => {
    const alice = await signupAndLogin(client, 'out')
    const other = await client.post('/login', {
      json: { username: alice.username, password: alice.password },
    })
    const reply = await client.post('/logout', { token: alice.access })
    expect(reply.status).toBe(204)
    expect((await me(alice.access)).status).toBe(401)
    expect((await refresh(alice.refresh)).status).toBe(401)
    expect((await me(other.body.access_token)).status).toBe(200)
    expect((await client.post('/logout')).status).toBe(401)
  })

  it('after logout/all every session of the user ends', async () => {
    const alice = await signupAndLogin(client, 'outall')
    const other = await client.post('/login', {
      json: { username: alice.username, password: alice.password },
    })
    const bob = await signupAndLogin(client, 'bystander')
    expect((await client.post('/logout/all', { token: alice.access })).status).toBe(204)
    for (const token of [alice.access, other.body.access_token])
      expect((await me(token)).status).toBe(401)
    for (const token of [alice.refresh, other.body.refresh_token])
      expect((await refresh(token)).status).toBe(401)
    expect((await me(bob.access)).status).toBe(200)
  })

  it('deactivation ends sessions and blocks login with the generic 401', async () => {
    const alice = await signupAndLogin(client, 'deact')
    expect(
      (
        await client.patch(`/users/${alice.id}`, {
          token: admin.access,
          json: { is_active: false },
        })
      ).status,
    ).toBe(200)
    expect((await me(alice.access)).status).toBe(401)
    expect((await refresh(alice.refresh)).status).toBe(401)
    const login = await client.post('/login', {
      json: { username: alice.username, password: alice.password },
    })
    expect(login.status).toBe(401)
    expect(login.body.detail).toBe('Incorrect username or password')
  })

  it("a role change ends the user's sessions", async () => {
    const alice = await signupAndLogin(client, 'role')
    expect(
      (
        await client.patch(`/users/${alice.id}`, {
          token: admin.access,
          json: { roles: ['viewer'] },
        })
      ).status,
    ).toBe(200)
    expect((await me(alice.access)).status).toBe(401)
    expect((await refresh(alice.refresh)).status).toBe(401)
  })

  it("a password change ends the user's sessions", async () => {
    const alice = await signupAndLogin(client, 'pwch')
    const other = await client.post('/login', {
      json: { username: alice.username, password: alice.password },
    })
    const reply = await client.patch(`/users/${alice.id}`, {
      token: alice.access,
      json: { password: 'An0ther!Secret-99', current_password: alice.password },
    })
    expect(reply.status).toBe(200)
    for (const token of [alice.access, other.body.access_token])
      expect((await me(token)).status).toBe(401)
    expect((await refresh(alice.refresh)).status).toBe(401)
  })

  it.each([
    ['an empty body', {}],
    ['an extra field', { username: 'a', password: 'b', admin: true }],
    ['wrong types', { username: 1, password: ['x'] }],
    ['huge strings', { username: 'a'.repeat(10_000), password: 'b'.repeat(10_000) }],
    ['an array', [1]],
  ])('login with %s is a 4xx problem, never a 500', async (_label, body) => {
    const reply = await client.post('/login', { json: body })
    expect([400, 413, 422]).toContain(reply.status)
    expect(reply.headers.get('content-type')).toMatch(/problem\+json/)
  })

  it('refresh with a bad body is 422; with garbage tokens 401', async () => {
    expect((await client.post('/token/refresh', { json: {} })).status).toBe(422)
    expect((await client.post('/token/refresh', { json: { refresh_token: 5 } })).status).toBe(422)
    expect(
      (await client.post('/token/refresh', { json: { refresh_token: 'x'.repeat(600) } })).status,
    ).toBe(422)
    expect((await refresh("' or 1=1 --")).status).toBe(401)
  })
})

describe('access tokens (EdDSA key file)', () => {
  let server: TestServer
  let client: Client
  let publicPem: string
  beforeAll(async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519')
    const file = join(tmpdir(), `rampart-ed25519-${process.pid}-${Date.now()}.pem`)
    writeFileSync(file, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 })
    publicPem = publicKey.export({ type: 'spki', format: 'pem' }).toString()
    server = await startTestServer({ env: { JWT_SECRET: '', JWT_PRIVATE_KEY_FILE: file } })
    client = new Client(server.url)
  })
  afterAll(() => server.close())

  it('issues EdDSA tokens that verify', async () => {
    const alice = await signupAndLogin(client, 'ed')
    expect(
      JSON.parse(Buffer.from(alice.access.split('.')[0] ?? '', 'base64url').toString()),
    ).toMatchObject({ alg: 'EdDSA', typ: 'at+jwt' })
    expect((await client.get('/users/me', { token: alice.access })).status).toBe(200)
  })

  it('refuses an HS256 token keyed with the public key (algorithm confusion)', async () => {
    const alice = await signupAndLogin(client, 'confuse')
    const claims = decodeJwt(alice.access)
    const forged = handMade({ alg: 'HS256', typ: 'at+jwt' }, claims, publicPem)
    expect((await client.get('/users/me', { token: forged })).status).toBe(401)
    const viaJose = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt' })
      .sign(new TextEncoder().encode(publicPem))
    expect((await client.get('/users/me', { token: viaJose })).status).toBe(401)
  })

  it('refuses alg none', async () => {
    const alice = await signupAndLogin(client, 'ednone')
    const forged = handMade({ alg: 'none', typ: 'at+jwt' }, decodeJwt(alice.access), null)
    expect((await client.get('/users/me', { token: forged })).status).toBe(401)
  })
})

describe('refresh token lifetime', () => {
  it('a refresh token stops working after 7 days, and rotation never extends the session', async () => {
    const clock = new ManualClock()
    const server = await startTestServer({ clock })
    try {
      const client = new Client(server.url)
      const alice = await signupAndLogin(client, 'life')
      clock.advance(6 * 86400 * 1000)
      const rotated = await client.post('/token/refresh', {
        json: { refresh_token: alice.refresh },
      })
      expect(rotated.status).toBe(200)
      clock.advance(86400 * 1000 + 1000)
      const late = await client.post('/token/refresh', {
        json: { refresh_token: rotated.body.refresh_token },
      })
      expect(late.status).toBe(401)
    } finally {
      await server.close()
    }
  })
})

describe('password hashing under load', () => {
  it('logins beyond the hashing queue get 503 with Retry-After, never a 500', async () => {
    const server = await startTestServer({
      env: { PASSWORD_HASH_CONCURRENCY: '1', PASSWORD_HASH_QUEUE: '0' },
    })
    try {
      const client = new Client(server.url)
      const alice = await signupAndLogin(client, 'busy')
      const replies = await Promise.all(
        Array.from({ length: 12 }, () =>
          client.post('/login', { json: { username: alice.username, password: alice.password } }),
        ),
      )
      const statuses = replies.map((r) => r.status)
      expect(statuses).toContain(200)
      expect(statuses).toContain(503)
      for (const reply of replies.filter((r) => r.status === 503)) {
        expect(reply.headers.get('retry-after')).toBe('1')
        expect(reply.headers.get('content-type')).toMatch(/problem\+json/)
      }
      // Beyond five parallel attempts for one username and client the throttle answers 429 first.
      expect(statuses.every((s) => s === 200 || s === 503 || s === 429)).toBe(true)
    } finally {
      await server.close()
    }
  })
})
