import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  Client,
  accountWithRoles,
  newIdentity,
  signupAndLogin,
  type Account,
} from '../helpers/client.js'
import { roleSetter, startTestServer, type TestServer } from '../helpers/server.js'

describe('users: ownership, mass assignment, national_id, search and listing', () => {
  let server: TestServer
  let client: Client
  let admin: Account
  beforeAll(async () => {
    server = await startTestServer()
    client = new Client(server.url)
    admin = await accountWithRoles(client, roleSetter(server), ['admin'], 'boss')
  })
  afterAll(() => server.close())

  const rawUser = (id: string) =>
    server.ctx.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirstOrThrow()

  it('GET /users/me returns the caller with no-store caching', async () => {
    const alice = await signupAndLogin(client, 'me')
    const reply = await client.get('/users/me', { token: alice.access })
    expect(reply.status).toBe(200)
    expect(reply.body).toMatchObject({
      id: alice.id,
      username: alice.username,
      email: alice.email,
      roles: ['user'],
    })
    expect(reply.headers.get('cache-control')).toBe('no-store')
  })

  it('GET /users/me without a token is 401 with WWW-Authenticate: Bearer', async () => {
    const reply = await client.get('/users/me')
    expect(reply.status).toBe(401)
    expect(reply.headers.get('www-authenticate')).toMatch(/^Bearer/)
  })

  it('a user reads only their own record; another user gets 403; an admin may read it', async () => {
    const alice = await signupAndLogin(client, 'own')
    const bob = await signupAndLogin(client, 'other')
    expect((await client.get(`/users/${alice.id}`, { token: alice.access })).status).toBe(200)
    const denied = await client.get(`/users/${alice.id}`, { token: bob.access })
    expect(denied.status).toBe(403)
    expect(denied.text).not.toContain(alice.email)
    const byAdmin = await client.get(`/users/${alice.id}`, { token: admin.access })
    expect(byAdmin.status).toBe(200)
    expect(byAdmin.body.username).toBe(alice.username)
  })

  it('an admin reading a nonexistent user gets 404; a malformed id is 422', async () => {
    expect(
      (await client.get('/users/00000000-0000-4000-8000-000000000000', { token: admin.access }))
        .status,
    ).toBe(404)
    expect((await client.get('/users/not-a-uuid', { token: admin.access })).status).toBe(422)
  })

  it('a user updates their own email and phone', async () => {
    const alice = await signupAndLogin(client, 'upd')
    const reply = await client.patch(`/users/${alice.id}`, {
      token: alice.access,
      json: {
        email: `new_${alice.username}@Example.ORG`,
        phone: '+442071234567',
        current_password: alice.password,
      },
    })
    expect(reply.status, reply.text).toBe(200)
    expect(reply.body.email).toBe(`new_${alice.username}@example.org`)
    expect(reply.body.phone).toBe('+442071234567')
  })

  it('a stolen session cannot change the email without the current password (account takeover via reset)', async () => {
    const alice = await signupAndLogin(client, 'steal')
    const before = await rawUser(alice.id)
    const missing = await client.patch(`/users/${alice.id}`, {
      token: alice.access,
      json: { email: `thief_${alice.username}@evil.test` },
    })
    expect(missing.status).toBe(422)
    expect(missing.body.errors).toContainEqual({
      field: 'current_password',
      message: 'is required to change the password or email',
    })
    const wrong = await client.patch(`/users/${alice.id}`, {
      token: alice.access,
      json: { email: `thief_${alice.username}@evil.test`, current_password: 'Not-the-password-1!' },
    })
    expect(wrong.status).toBe(422)
    expect(await rawUser(alice.id)).toEqual(before)
    const events = await server.ctx.db
      .selectFrom('security_events')
      .select('type')
      .where('user_id', '=', alice.id)
      .where('type', '=', 'authn_reauth_fail')
      .execute()
    expect(events).toHaveLength(1)
  })

  it('guessing the current password through PATCH is throttled like login', async () => {
    const alice = await signupAndLogin(client, 'guess')
    const statuses: number[] = []
    for (let i = 0; i < 7; i++) {
      const reply = await client.patch(`/users/${alice.id}`, {
        token: alice.access,
        json: { password: 'Brand-new-Passw0rd!', current_password: `Wrong-guess-${i}!` },
      })
      statuses.push(reply.status)
    }
    expect(statuses).toEqual([422, 422, 422, 422, 422, 429, 429])
  })

  it('an email change voids reset links mailed before it', async () => {
    const alice = await signupAndLogin(client, 'voids')
    await server.ctx.db
      .insertInto('password_reset_tokens')
      .values({
        id: '00000000-0000-4000-8000-0000000000aa',
        user_id: alice.id,
        token_hash: `h-${alice.id}`,
        created_at: new Date().toISOString(),
        expires_at: new Date(Date.now() + 60_000).toISOString(),
        used_at: null,
      })
      .execute()
    const reply = await client.patch(`/users/${alice.id}`, {
      token: alice.access,
      json: { email: `moved_${alice.username}@example.com`, current_password: alice.password },
    })
    expect(reply.status).toBe(200)
    const left = await server.ctx.db
      .selectFrom('password_reset_tokens')
      .select('id')
      .where('user_id', '=', alice.id)
      .execute()
    expect(left).toEqual([])
  })

  it('a user cannot PATCH another user (403, row unchanged)', async () => {
    const alice = await signupAndLogin(client, 'victim')
    const bob = await signupAndLogin(client, 'attacker')
    const before = await rawUser(alice.id)
    const reply = await client.patch(`/users/${alice.id}`, {
      token: bob.access,
      json: { email: `pwn_${bob.username}@example.com` },
    })
    expect(reply.status).toBe(403)
    expect(await rawUser(alice.id)).toEqual(before)
  })

  it.each([
    ['roles', { roles: ['admin'] }],
    ['is_active', { is_active: true }],
    ['roles with other fields', { phone: '+14155550100', roles: ['admin', 'user'] }],
  ])(
    'a non-admin sending %s on their own account gets 403 and nothing changes',
    async (_label, body) => {
      const alice = await signupAndLogin(client, 'mass')
      const before = await rawUser(alice.id)
      const reply = await client.patch(`/users/${alice.id}`, { token: alice.access, json: body })
      expect(reply.status).toBe(403)
      expect(await rawUser(alice.id)).toEqual(before)
      expect((await client.get('/users/me', { token: alice.access })).body.roles).toEqual(['user'])
    },
  )

  it('unknown fields in PATCH are 422 and nothing changes', async () => {
    const alice = await signupAndLogin(client, 'extra')
    const before = await rawUser(alice.id)
    for (const body of [
      { username: 'renamed_x' },
      { password_hash: 'x' },
      { mfa_enabled: true },
      {},
    ]) {
      const reply = await client.patch(`/users/${alice.id}`, { token: alice.access, json: body })
      expect(reply.status, JSON.stringify(body)).toBe(422)
    }
    expect(await rawUser(alice.id)).toEqual(before)
  })

  it('an admin may change roles and activation', async () => {
    const alice = await signupAndLogin(client, 'promote')
    const reply = await client.patch(`/users/${alice.id}`, {
      token: admin.access,
      json: { roles: ['viewer'] },
    })
    expect(reply.status).toBe(200)
    expect(reply.body.roles).toEqual(['viewer'])
    const off = await client.patch(`/users/${alice.id}`, {
      token: admin.access,
      json: { is_active: false },
    })
    expect(off.status).toBe(200)
    expect(off.body.is_active).toBe(false)
    expect((await rawUser(alice.id)).is_active).toBe(0)
  })

  it('the last active admin cannot demote or deactivate themselves (409, unchanged)', async () => {
    const server2 = await startTestServer()
    try {
      const c = new Client(server2.url)
      const only = await accountWithRoles(c, roleSetter(server2), ['admin'], 'solo')
      const before = await server2.ctx.db
        .selectFrom('users')
        .selectAll()
        .where('id', '=', only.id)
        .executeTakeFirstOrThrow()
      for (const body of [{ roles: ['user'] }, { is_active: false }]) {
        const reply = await c.patch(`/users/${only.id}`, { token: only.access, json: body })
        expect(reply.status, JSON.stringify(body)).toBe(409)
      }
      expect(
        await server2.ctx.db
          .selectFrom('users')
          .selectAll()
          .where('id', '=', only.id)
          .executeTakeFirstOrThrow(),
      ).toEqual(before)
      expect((await c.get('/users/me', { token: only.access })).status).toBe(200)
    } finally {
      await server2.close()
    }
  })

  it('two admins demoting each other at once never leave the server without an active admin', async () => {
    const server2 = await startTestServer()
    try {
      const c = new Client(server2.url)
      for (let trial = 0; trial < 5; trial++) {
        const x = await accountWithRoles(c, roleSetter(server2), ['admin'], 'racex')
        const y = await accountWithRoles(c, roleSetter(server2), ['admin'], 'racey')
        // Leave exactly these two admins active.
        await server2.ctx.db
          .updateTable('users')
          .set({ is_active: 0 })
          .where('id', 'not in', [x.id, y.id])
          .where('roles', 'like', '%"admin"%')
          .execute()
        await Promise.all([
          c.patch(`/users/${y.id}`, { token: x.access, json: { roles: ['user'] } }),
          c.patch(`/users/${x.id}`, { token: y.access, json: { roles: ['user'] } }),
        ])
        const admins = await server2.ctx.db
          .selectFrom('users')
          .select('id')
          .where('roles', 'like', '%"admin"%')
          .where('is_active', '=', 1)
          .execute()
        expect(admins.length).toBeGreaterThanOrEqual(1)
      }
    } finally {
      await server2.close()
    }
  })

  it("an admin cannot change another user's password through PATCH", async () => {
    const alice = await signupAndLogin(client, 'adminpw')
    const before = await rawUser(alice.id)
    const reply = await client.patch(`/users/${alice.id}`, {
      token: admin.access,
      json: { password: 'N3w!Passw0rd-xyz', current_password: 'whatever' },
    })
    expect(reply.status).toBe(403)
    expect((await rawUser(alice.id)).password_hash).toBe(before.password_hash)
  })

  it('a password change needs the correct current_password', async () => {
    const alice = await signupAndLogin(client, 'chpw')
    const before = await rawUser(alice.id)
    const missing = await client.patch(`/users/${alice.id}`, {
      token: alice.access,
      json: { password: 'N3w!Passw0rd-xyz' },
    })
    expect(missing.status).toBe(422)
    expect(missing.body.errors.map((e: { field: string }) => e.field)).toContain('current_password')
    const wrong = await client.patch(`/users/${alice.id}`, {
      token: alice.access,
      json: { password: 'N3w!Passw0rd-xyz', current_password: 'Wr0ng!password-1' },
    })
    expect(wrong.status).toBe(422)
    expect(wrong.body.errors.map((e: { field: string }) => e.field)).toContain('current_password')
    const weak = await client.patch(`/users/${alice.id}`, {
      token: alice.access,
      json: { password: 'short', current_password: alice.password },
    })
    expect(weak.status).toBe(422)
    expect((await rawUser(alice.id)).password_hash).toBe(before.password_hash)

    const ok = await client.patch(`/users/${alice.id}`, {
      token: alice.access,
      json: { password: 'N3w!Passw0rd-xyz', current_password: alice.password },
    })
    expect(ok.status, ok.text).toBe(200)
    expect(
      (
        await client.post('/login', {
          json: { username: alice.username, password: alice.password },
        })
      ).status,
    ).toBe(401)
    expect(
      (
        await client.post('/login', {
          json: { username: alice.username, password: 'N3w!Passw0rd-xyz' },
        })
      ).status,
    ).toBe(200)
  })

  it('changing the email to a taken one is the generic 409 and changes nothing', async () => {
    const alice = await signupAndLogin(client, 'emx')
    const bob = await signupAndLogin(client, 'emy')
    const before = await rawUser(alice.id)
    const reply = await client.patch(`/users/${alice.id}`, {
      token: alice.access,
      json: { email: bob.email.toUpperCase(), current_password: alice.password },
    })
    expect(reply.status).toBe(409)
    expect(await rawUser(alice.id)).toEqual(before)
  })

  it('national_id is stored encrypted and shown only to that user or an admin', async () => {
    const alice = await signupAndLogin(client, 'nid')
    const nationalId = 'AB 123456 C'
    const reply = await client.patch(`/users/${alice.id}`, {
      token: alice.access,
      json: { national_id: nationalId },
    })
    expect(reply.status).toBe(200)
    expect(reply.body.national_id).toBe(nationalId)
    expect(reply.headers.get('cache-control')).toBe('no-store')

    const raw = await rawUser(alice.id)
    expect(raw.national_id_enc).not.toBeNull()
    expect(raw.national_id_enc).not.toContain(nationalId)
    expect(raw.national_id_enc).not.toContain('123456')
    expect(JSON.stringify(raw)).not.toContain('123456')

    expect((await client.get(`/users/${alice.id}`, { token: alice.access })).body.national_id).toBe(
      nationalId,
    )
    expect((await client.get(`/users/${alice.id}`, { token: admin.access })).body.national_id).toBe(
      nationalId,
    )

    const list = await client.get('/admin/users?limit=100', { token: admin.access })
    expect(list.text).not.toContain(nationalId)
    const bob = await signupAndLogin(client, 'nidx')
    const search = await client.get(`/users/search?q=${alice.username}`, { token: bob.access })
    expect(search.text).not.toContain(nationalId)
  })

  it('an admin may set a national_id; it is encrypted the same way', async () => {
    const alice = await signupAndLogin(client, 'nida')
    const reply = await client.patch(`/users/${alice.id}`, {
      token: admin.access,
      json: { national_id: 'ZZ998877' },
    })
    expect(reply.status).toBe(200)
    expect((await rawUser(alice.id)).national_id_enc).not.toContain('ZZ998877')
  })

  describe('search', () => {
    let seeker: Account
    const tag = Math.random().toString(36).slice(2, 7)
    const names = {
      plain: `srch${tag}abc`,
      wildUnderscore: `srch${tag}a_c`,
      lookalike: `srch${tag}axc`,
      other: `srch${tag}zzz`,
    }
    beforeAll(async () => {
      seeker = await signupAndLogin(client, 'seek')
      for (const username of Object.values(names)) {
        const reply = await client.post('/users', { json: { ...newIdentity(), username } })
        expect(reply.status).toBe(201)
      }
    })

    const search = async (q: string): Promise<string[]> => {
      const reply = await client.get(`/users/search?q=${encodeURIComponent(q)}&limit=100`, {
        token: seeker.access,
      })
      expect(reply.status, reply.text).toBe(200)
      return (reply.body.items as { username: string }[]).map((u) => u.username).sort()
    }

    it('matches a plain substring, case-insensitively, returning only id and username', async () => {
      const reply = await client.get(`/users/search?q=${names.plain.toUpperCase()}`, {
        token: seeker.access,
      })
      expect(reply.status).toBe(200)
      expect(reply.body.items).toHaveLength(1)
      expect(Object.keys(reply.body.items[0]).sort()).toEqual(['id', 'username'])
      expect(reply.body).toHaveProperty('next_cursor')
    })

    it("'_' is literal: it does not match any single character", async () => {
      expect(await search(`${tag}a_c`)).toEqual([names.wildUnderscore])
    })

    it("'%' is literal: it matches nothing when no username has one", async () => {
      expect(await search('%')).toEqual([])
      expect(await search(`srch${tag}%c`)).toEqual([])
    })

    it("'\\' is literal and cannot escape the next character", async () => {
      expect(await search('\\')).toEqual([])
      expect(await search(`${tag}a\\_c`)).toEqual([])
      expect(await search(`${tag}a\\%`)).toEqual([])
    })

    it('q must be 1..100 characters; a viewer may not search', async () => {
      expect((await client.get('/users/search?q=', { token: seeker.access })).status).toBe(422)
      expect(
        (await client.get(`/users/search?q=${'a'.repeat(101)}`, { token: seeker.access })).status,
      ).toBe(422)
      expect((await client.get('/users/search', { token: seeker.access })).status).toBe(422)
      expect(
        (await client.get(`/users/search?q=${'a'.repeat(100)}`, { token: seeker.access })).status,
      ).toBe(200)
      const viewer = await accountWithRoles(client, roleSetter(server), ['viewer'], 'view')
      expect((await client.get('/users/search?q=abc', { token: viewer.access })).status).toBe(403)
      expect((await client.get('/users/search?q=abc')).status).toBe(401)
    })
  })

  describe('GET /admin/users', () => {
    it('is admin-only', async () => {
      const user = await signupAndLogin(client, 'nosy')
      expect((await client.get('/admin/users', { token: user.access })).status).toBe(403)
      expect((await client.get('/admin/users')).status).toBe(401)
    })

    it('walks every user exactly once with the cursor', async () => {
      for (let i = 0; i < 5; i++) await signupAndLogin(client, 'page')
      const total = Number(
        (
          await server.ctx.db
            .selectFrom('users')
            .select((eb) => eb.fn.countAll().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      )
      const seen: string[] = []
      let cursor: string | null = null
      for (let pages = 0; pages < 100; pages++) {
        const query: string = cursor === null ? '' : `&cursor=${cursor}`
        const reply = await client.get(`/admin/users?limit=3${query}`, { token: admin.access })
        expect(reply.status).toBe(200)
        expect(reply.body.items.length).toBeLessThanOrEqual(3)
        seen.push(...reply.body.items.map((u: { id: string }) => u.id))
        for (const item of reply.body.items) expect(item).not.toHaveProperty('national_id')
        cursor = reply.body.next_cursor
        if (cursor === null) break
      }
      expect(seen).toHaveLength(total)
      expect(new Set(seen).size).toBe(total)
    })

    it('bounds limit to 1..100 and defaults to 20', async () => {
      for (const limit of ['0', '101', '-1', 'abc', '1.5']) {
        const reply = await client.get(`/admin/users?limit=${limit}`, { token: admin.access })
        expect(reply.status, limit).toBe(422)
      }
      expect(
        (await client.get('/admin/users?limit=1', { token: admin.access })).body.items,
      ).toHaveLength(1)
      expect((await client.get('/admin/users?limit=100', { token: admin.access })).status).toBe(200)
    })

    it('answers a forged or malformed cursor with 422', async () => {
      for (const cursor of [
        'garbage',
        Buffer.from("' or 1=1 --").toString('base64url'),
        'a'.repeat(201),
        '%00',
      ]) {
        const reply = await client.get(`/admin/users?cursor=${cursor}`, { token: admin.access })
        expect(reply.status, cursor).toBe(422)
        expect(reply.headers.get('content-type')).toMatch(/problem\+json/)
      }
    })
  })
})
