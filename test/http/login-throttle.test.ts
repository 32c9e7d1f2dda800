import { afterEach, describe, expect, it, vi } from 'vitest'
import { Client, signupAndLogin, type Account } from '../helpers/client.js'
import { ManualClock, startTestServer, type TestServer } from '../helpers/server.js'

const DAY_START = Math.floor(Date.now() / 86_400_000) * 86_400_000 + 1000

describe('login brute-force throttle', () => {
  const servers: TestServer[] = []
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()))
  })

  async function start(env: Record<string, string> = {}) {
    const clock = new ManualClock(DAY_START)
    const server = await startTestServer({ env: { TRUST_PROXY: '127.0.0.1', ...env }, clock })
    servers.push(server)
    const client = new Client(server.url)
    const account = await signupAndLogin(client)
    const login = (password: string, ip = '198.51.100.7', username = account.username) =>
      client.post('/login', { json: { username, password }, headers: { 'x-forwarded-for': ip } })
    return { server, client, clock, account, login }
  }

  async function passwordHash(server: TestServer, account: Account) {
    const row = await server.ctx.db
      .selectFrom('users')
      .select('password_hash')
      .where('id', '=', account.id)
      .executeTakeFirstOrThrow()
    return row.password_hash
  }

  it('blocks a username and client pair after five failures, for a wait that doubles, even for the right password', async () => {
    const { login, clock, account } = await start()
    for (let i = 0; i < 5; i++) expect((await login('Wrong-password-1!')).status).toBe(401)

    const blocked = await login(account.password)
    expect(blocked.status).toBe(429)
    expect(blocked.headers.get('retry-after')).toBe('60')
    expect(blocked.body.access_token).toBeUndefined()

    clock.advance(59_000)
    expect((await login(account.password)).status).toBe(429)
    clock.advance(1_000)
    // The block is over; one more failure doubles the wait.
    expect((await login('Wrong-password-1!')).status).toBe(401)
    const longer = await login(account.password)
    expect(longer.status).toBe(429)
    expect(longer.headers.get('retry-after')).toBe('120')

    clock.advance(120_000)
    expect((await login(account.password)).status).toBe(200)
  })

  it('checks no more passwords than the limits allow when guesses arrive all at once', async () => {
    const { login, account } = await start({ PASSWORD_HASH_QUEUE: '200' })
    const burst = await Promise.all(Array.from({ length: 30 }, () => login('Wrong-password-1!')))
    const statuses = burst.map((r) => r.status)
    expect(statuses.filter((s) => s === 401)).toHaveLength(5)
    expect(statuses.filter((s) => s === 429)).toHaveLength(25)
    // The pair is now blocked: the right password is refused too.
    expect((await login(account.password)).status).toBe(429)
  })

  it('checks at most the per-username quota when many addresses guess one account at once', async () => {
    const { login } = await start({ PASSWORD_HASH_QUEUE: '200' })
    const burst = await Promise.all(
      Array.from({ length: 40 }, (_, i) => login('Wrong-password-1!', `198.51.100.${i + 10}`)),
    )
    const checked = burst.filter((r) => r.status === 401).length
    expect(checked).toBe(20)
  })

  it('forgets the run of failures after a successful login', async () => {
    const { login, account } = await start()
    for (let i = 0; i < 4; i++) expect((await login('Wrong-password-1!')).status).toBe(401)
    expect((await login(account.password)).status).toBe(200)
    for (let i = 0; i < 4; i++) expect((await login('Wrong-password-1!')).status).toBe(401)
    expect((await login(account.password)).status).toBe(200)
  })

  it('does not block the same username from another client address', async () => {
    const { login, account } = await start()
    for (let i = 0; i < 5; i++) await login('Wrong-password-1!', '198.51.100.7')
    expect((await login(account.password, '198.51.100.7')).status).toBe(429)
    expect((await login(account.password, '198.51.100.8')).status).toBe(200)
  })

  it('locks a username attacked from many addresses, refuses the right password meanwhile, and unlocks by itself', async () => {
    const { server, login, clock, account } = await start({
      RATE_LIMIT_LOGIN_USER_FAILURES: '3',
      RATE_LIMIT_LOGIN_USER_LOCK_SECONDS: '300',
    })
    const before = await passwordHash(server, account)
    for (let i = 1; i <= 3; i++)
      expect((await login('Wrong-password-1!', `203.0.113.${i}`)).status).toBe(401)

    const locked = await login(account.password, '192.0.2.50')
    expect(locked.status).toBe(429)
    expect(locked.headers.get('retry-after')).toBe('300')
    expect(locked.headers.get('ratelimit-policy')).toBe('"login-user";q=3;w=900')

    clock.advance(300_000)
    expect((await login(account.password, '192.0.2.50')).status).toBe(200)
    expect(await passwordHash(server, account)).toBe(before)
  })

  it('caps failures per client address per day across usernames', async () => {
    const { login, clock, account } = await start({ RATE_LIMIT_LOGIN_IP_FAILURES_PER_DAY: '3' })
    for (let i = 0; i < 3; i++)
      expect((await login('Wrong-password-1!', '198.51.100.9', `nobody${i}`)).status).toBe(401)
    const capped = await login(account.password, '198.51.100.9')
    expect(capped.status).toBe(429)
    expect(capped.headers.get('ratelimit-policy')).toBe('"login-ip";q=3;w=86400')
    expect((await login(account.password, '198.51.100.10')).status).toBe(200)
    clock.advance(86_400_000)
    expect((await login(account.password, '198.51.100.9')).status).toBe(200)
  })

  it('throttles an unknown username exactly as a real one', async () => {
    const { login } = await start()
    const statuses: number[] = []
    for (let i = 0; i < 6; i++)
      statuses.push((await login('Wrong-password-1!', '198.51.100.7', 'no_such_user')).status)
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429])
  })

  it('records refused logins as rate limit events without issuing a session', async () => {
    const { server, login, account } = await start({ RATE_LIMIT_LOGIN_FAILURES: '1' })
    await login('Wrong-password-1!')
    const sessionsBefore = await server.ctx.db
      .selectFrom('sessions')
      .select('id')
      .where('user_id', '=', account.id)
      .execute()
    expect((await login(account.password)).status).toBe(429)
    const sessionsAfter = await server.ctx.db
      .selectFrom('sessions')
      .select('id')
      .where('user_id', '=', account.id)
      .execute()
    expect(sessionsAfter).toHaveLength(sessionsBefore.length)
    // The event is written by onResponse, just after the client has its answer.
    const event = await vi.waitFor(() =>
      server.ctx.db
        .selectFrom('security_events')
        .selectAll()
        .where('type', '=', 'excess_rate_limit_exceeded')
        .executeTakeFirstOrThrow(),
    )
    expect(event).toMatchObject({ path: '/login', outcome: 'blocked', ip: '198.51.100.7' })
    expect(JSON.parse(event.details)).toEqual({ reason: 'login throttled' })
  })
})
