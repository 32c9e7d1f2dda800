import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Client, accountWithRoles, signupAndLogin, type Account } from '../helpers/client.js'
import { ManualClock, roleSetter, startTestServer, type TestServer } from '../helpers/server.js'

const FIELDS = [
  'at',
  'details',
  'id',
  'ip',
  'method',
  'outcome',
  'path',
  'request_id',
  'type',
  'user_agent',
  'user_id',
]

describe('security events', () => {
  let server: TestServer
  let client: Client
  let admin: Account
  let clock: ManualClock
  beforeAll(async () => {
    clock = new ManualClock(Date.parse('2030-01-01T00:00:00.000Z'))
    server = await startTestServer({ clock })
    client = new Client(server.url)
    admin = await accountWithRoles(client, roleSetter(server), ['admin'], 'auditor')
  })
  afterAll(() => server.close())

  async function events(query: string) {
    const reply = await client.get(`/admin/security-events?${query}`, { token: admin.access })
    expect(reply.status, reply.text).toBe(200)
    return reply.body.items as Record<string, unknown>[]
  }

  it('records login success and failure with every event field', async () => {
    const alice = await signupAndLogin(client, 'ev')
    await client.post('/login', {
      json: { username: alice.username, password: 'Wr0ng!password-00' },
      headers: { 'user-agent': 'probe/1.0' },
    })
    await client.post('/login', {
      json: { username: 'no_such_user_xyz', password: 'Wr0ng!password-00' },
    })

    const success = await events(`type=authn_login_success&user_id=${alice.id}`)
    expect(success).toHaveLength(1)
    expect(Object.keys(success[0] ?? {}).sort()).toEqual(FIELDS)
    expect(success[0]).toMatchObject({
      outcome: 'success',
      method: 'POST',
      path: '/login',
      user_id: alice.id,
      ip: expect.any(String),
      request_id: expect.any(String),
    })

    const failures = await events(`type=authn_login_fail&user_id=${alice.id}`)
    expect(failures).toHaveLength(1)
    expect(failures[0]).toMatchObject({
      outcome: 'failure',
      user_agent: 'probe/1.0',
      path: '/login',
    })
    expect(JSON.stringify(failures)).not.toContain('Wr0ng!password-00')
    const unknown = (await events('type=authn_login_fail&limit=100')).filter(
      (e) => e.user_id === null,
    )
    expect(unknown.length).toBeGreaterThanOrEqual(1)
  })

  it('records every 401 and 403 with the request that caused it', async () => {
    const alice = await signupAndLogin(client, 'ev403')
    const unauth = await client.get('/documents', { headers: { 'user-agent': 'ua-401' } })
    expect(unauth.status).toBe(401)
    const forbidden = await client.get('/admin/users', { token: alice.access })
    expect(forbidden.status).toBe(403)
    const ownership = await client.get(`/users/${admin.id}`, { token: alice.access })
    expect(ownership.status).toBe(403)

    const invalid = (await events('type=authn_token_invalid&limit=100')).find(
      (e) => e.user_agent === 'ua-401',
    )
    expect(invalid).toMatchObject({ outcome: 'blocked', method: 'GET', path: '/documents' })
    const denied = await events(`type=authz_fail&user_id=${alice.id}`)
    expect(denied.map((e) => e.path).sort()).toEqual(['/admin/users', `/users/${admin.id}`].sort())
  })

  it('stores the event for a refusal before the refusal is answered', async () => {
    const alice = await signupAndLogin(client, 'evsync')
    for (let i = 0; i < 25; i++) {
      const agent = `sync-probe-${i}`
      const reply =
        i % 2 === 0
          ? await client.get('/documents', { headers: { 'user-agent': agent } })
          : await client.get('/admin/users', {
              token: alice.access,
              headers: { 'user-agent': agent },
            })
      expect([401, 403]).toContain(reply.status)
      const stored = await server.ctx.db
        .selectFrom('security_events')
        .select('type')
        .where('user_agent', '=', agent)
        .execute()
      expect(stored, agent).toHaveLength(1)
    }
  })

  it('records logout, logout/all and refresh-token reuse', async () => {
    const alice = await signupAndLogin(client, 'evout')
    await client.post('/logout', { token: alice.access })
    const bob = await signupAndLogin(client, 'evall')
    await client.post('/logout/all', { token: bob.access })
    const carol = await signupAndLogin(client, 'evreuse')
    await client.post('/token/refresh', { json: { refresh_token: carol.refresh } })
    await client.post('/token/refresh', { json: { refresh_token: carol.refresh } })

    expect(await events(`type=session_logout&user_id=${alice.id}`)).toHaveLength(1)
    expect(await events(`type=session_logout_all&user_id=${bob.id}`)).toHaveLength(1)
    const reuse = await events(`type=authn_token_reuse&user_id=${carol.id}`)
    expect(reuse).toHaveLength(1)
    expect(reuse[0]).toMatchObject({ outcome: 'blocked', path: '/token/refresh' })
    expect(JSON.stringify(reuse)).not.toContain(carol.refresh)
  })

  it('filters by since and until, newest first, and pages without overlap', async () => {
    const marker = await signupAndLogin(client, 'evtime')
    const start = new Date(clock.now()).toISOString()
    for (let i = 0; i < 5; i++) {
      clock.advance(60_000)
      await client.post('/login', {
        json: { username: marker.username, password: 'Wr0ng!password-00' },
      })
    }
    clock.advance(60_000)
    const end = new Date(clock.now()).toISOString()
    const all = await events(
      `type=authn_login_fail&user_id=${marker.id}&since=${start}&until=${end}`,
    )
    expect(all).toHaveLength(5)
    const times = all.map((e) => e.at as string)
    expect([...times].sort().reverse()).toEqual(times)

    const middle = await events(
      `type=authn_login_fail&user_id=${marker.id}&since=${times[3]}&until=${times[1]}`,
    )
    expect(middle.map((e) => e.at)).toEqual([times[2], times[3]])

    const seen: string[] = []
    let cursor: string | null = null
    for (let pages = 0; pages < 10; pages++) {
      const query: string = cursor === null ? '' : `&cursor=${cursor}`
      const reply = await client.get(
        `/admin/security-events?type=authn_login_fail&user_id=${marker.id}&limit=2${query}`,
        { token: admin.access },
      )
      seen.push(...reply.body.items.map((e: { id: string }) => e.id))
      cursor = reply.body.next_cursor
      if (cursor === null) break
    }
    expect(seen).toEqual(all.map((e) => e.id))
  })

  it('refuses bad filters with 422 and non-admins with 403', async () => {
    for (const query of [
      'since=yesterday',
      'until=2030-13-01T00:00:00Z',
      'user_id=abc',
      'limit=0',
      'limit=101',
      'type=BAD',
      'cursor=abc',
      'extra=1',
    ]) {
      const reply = await client.get(`/admin/security-events?${query}`, { token: admin.access })
      expect(reply.status, query).toBe(422)
    }
    const alice = await signupAndLogin(client, 'evnosy')
    expect((await client.get('/admin/security-events', { token: alice.access })).status).toBe(403)
    expect(
      (await client.get('/admin/security-events/verify', { token: alice.access })).status,
    ).toBe(403)
    expect((await client.get('/admin/security-events/verify')).status).toBe(401)
  })

  it('verifies an intact chain, then names the first tampered event', async () => {
    const intact = await client.get('/admin/security-events/verify', { token: admin.access })
    expect(intact.status).toBe(200)
    expect(intact.body.ok).toBe(true)
    expect(intact.body.checked).toBeGreaterThan(5)
    expect(intact.body.first_bad).toBeUndefined()

    const rows = await server.ctx.db
      .selectFrom('security_events')
      .select(['id', 'seq'])
      .orderBy('seq')
      .execute()
    const victim = rows[Math.floor(rows.length / 2)]
    const later = rows[rows.length - 2]
    if (victim === undefined || later === undefined) throw new Error('no events')
    await server.ctx.db
      .updateTable('security_events')
      .set({ outcome: 'success' })
      .where('id', '=', later.id)
      .execute()
    await sql`update security_events set details = ${'{"edited":true}'} where id = ${victim.id}`.execute(
      server.ctx.db,
    )

    const broken = await client.get('/admin/security-events/verify', { token: admin.access })
    expect(broken.body).toMatchObject({ ok: false, first_bad: victim.id })
  })

  it('a deleted event breaks the chain at the event after it', async () => {
    const server2 = await startTestServer()
    try {
      const c = new Client(server2.url)
      const boss = await accountWithRoles(c, roleSetter(server2), ['admin'], 'chain')
      for (let i = 0; i < 3; i++) await c.get('/admin/users')
      const rows = await server2.ctx.db
        .selectFrom('security_events')
        .select(['id', 'seq'])
        .orderBy('seq')
        .execute()
      const removed = rows[1]
      const next = rows[2]
      if (removed === undefined || next === undefined) throw new Error('no events')
      await server2.ctx.db.deleteFrom('security_events').where('id', '=', removed.id).execute()
      const reply = await c.get('/admin/security-events/verify', { token: boss.access })
      expect(reply.body).toMatchObject({ ok: false, first_bad: next.id })
    } finally {
      await server2.close()
    }
  })
})
