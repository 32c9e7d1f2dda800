import { afterEach, describe, expect, it, vi } from 'vitest'
import { Client, signupAndLogin } from '../helpers/client.js'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  ManualClock,
  freshDatabaseUrl,
  startTestServer,
  type TestServer,
} from '../helpers/server.js'

// Whole hours, so every window in these tests starts with the clock.
const HOUR_START = Math.floor(Date.now() / 3_600_000) * 3_600_000 + 1000

describe('request limits', () => {
  const servers: TestServer[] = []
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()))
  })
  async function start(env: Record<string, string> = {}, clock = new ManualClock(HOUR_START)) {
    const server = await startTestServer({ env, clock })
    servers.push(server)
    return { server, client: new Client(server.url), clock }
  }

  it('answers the sixth reset request for one address and email in an hour with 429', async () => {
    const { server, client } = await start()
    const email = 'someone@example.com'
    for (let i = 0; i < 5; i++) {
      expect((await client.post('/password-reset', { json: { email } })).status).toBe(202)
    }
    const sixth = await client.post('/password-reset', { json: { email } })
    expect(sixth.status).toBe(429)
    expect(sixth.headers.get('content-type')).toMatch(/^application\/problem\+json/)
    expect(sixth.body).toMatchObject({ status: 429, type: 'urn:rampart:problem:http-rate-limited' })
    expect(Number(sixth.headers.get('retry-after'))).toBeGreaterThan(3500)
    expect(sixth.headers.get('ratelimit-policy')).toBe('"reset";q=5;w=3600')
    expect(sixth.headers.get('ratelimit')).toMatch(/^"reset";r=0;t=\d+$/)
    // Another address is counted on its own.
    expect(
      (await client.post('/password-reset', { json: { email: 'other@example.com' } })).status,
    ).toBe(202)

    // The event is written by onResponse, just after the client has its answer.
    await vi.waitFor(async () => {
      const events = await server.ctx.db
        .selectFrom('security_events')
        .select(['type', 'path'])
        .where('type', '=', 'excess_rate_limit_exceeded')
        .execute()
      expect(events).toEqual([{ type: 'excess_rate_limit_exceeded', path: '/password-reset' }])
    })
  })

  it('keeps counting across a restart on the same database', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rampart-restart-'))
    const database = await freshDatabaseUrl(dir)
    const clock = new ManualClock(HOUR_START)
    const env = { RATE_LIMIT_RESET_PER_HOUR: '1' }
    try {
      const first = await startTestServer({ env, clock, databaseUrl: database.url })
      expect(
        (await new Client(first.url).post('/password-reset', { json: { email: 'a@example.com' } }))
          .status,
      ).toBe(202)
      await first.close()
      const second = await startTestServer({ env, clock, databaseUrl: database.url })
      servers.push(second)
      expect(
        (await new Client(second.url).post('/password-reset', { json: { email: 'a@example.com' } }))
          .status,
      ).toBe(429)
    } finally {
      await database.drop()
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('lets reset requests through again when the hour is over', async () => {
    const { client, clock } = await start({ RATE_LIMIT_RESET_PER_HOUR: '1' })
    const email = 'someone@example.com'
    expect((await client.post('/password-reset', { json: { email } })).status).toBe(202)
    expect((await client.post('/password-reset', { json: { email } })).status).toBe(429)
    clock.advance(3_600_000)
    expect((await client.post('/password-reset', { json: { email } })).status).toBe(202)
  })

  it('caps signups per client address, and the refused signup creates no account', async () => {
    const { server, client } = await start({ RATE_LIMIT_SIGNUP_PER_HOUR: '2' })
    await signupAndLogin(client)
    await signupAndLogin(client)
    const third = await client.post('/users', {
      json: {
        username: 'thirduser',
        email: 'third@example.com',
        password: 'Xq7!vLp2#Rz-mW9-third',
      },
    })
    expect(third.status).toBe(429)
    expect(third.headers.get('retry-after')).not.toBeNull()
    const row = await server.ctx.db
      .selectFrom('users')
      .select('id')
      .where('username_lower', '=', 'thirduser')
      .executeTakeFirst()
    expect(row).toBeUndefined()
  })

  it('caps refresh-token spends per client address', async () => {
    const { client } = await start({ RATE_LIMIT_REFRESH_PER_MINUTE: '2' })
    const account = await signupAndLogin(client)
    const first = await client.post('/token/refresh', { json: { refresh_token: account.refresh } })
    expect(first.status).toBe(200)
    expect(
      (await client.post('/token/refresh', { json: { refresh_token: first.body.refresh_token } }))
        .status,
    ).toBe(200)
    const third = await client.post('/token/refresh', { json: { refresh_token: 'whatever' } })
    expect(third.status).toBe(429)
    expect(third.headers.get('ratelimit-policy')).toBe('"refresh";q=2;w=60')
  })

  it('refuses requests past the global per-client ceiling and tells the client its budget', async () => {
    const { client, clock } = await start({ RATE_LIMIT_GLOBAL_PER_MINUTE: '3' })
    const first = await client.get('/health')
    expect(first.headers.get('ratelimit-policy')).toBe('"global";q=3;w=60')
    expect(first.headers.get('ratelimit')).toMatch(/^"global";r=2;t=\d+$/)
    await client.get('/health')
    await client.get('/health')
    const fourth = await client.get('/health')
    expect(fourth.status).toBe(429)
    expect(fourth.body.status).toBe(429)
    expect(Number(fourth.headers.get('retry-after'))).toBeGreaterThan(0)
    clock.advance(60_000)
    expect((await client.get('/health')).status).toBe(200)
  })

  it('counts a batched global ceiling exactly on one instance', async () => {
    // 200 per minute sends hits to the store ten at a time; one instance still stops at 200.
    const { client } = await start({ RATE_LIMIT_GLOBAL_PER_MINUTE: '200' })
    const statuses: number[] = []
    for (let i = 0; i < 205; i++) statuses.push((await client.get('/health')).status)
    expect(statuses.slice(0, 200).every((s) => s === 200)).toBe(true)
    expect(statuses.slice(200)).toEqual([429, 429, 429, 429, 429])
  })

  it('keys on the peer address when a forged X-Forwarded-For comes from an untrusted peer', async () => {
    const { client } = await start({ RATE_LIMIT_RESET_PER_HOUR: '2' })
    const email = 'someone@example.com'
    const from = (ip: string) =>
      client.post('/password-reset', { json: { email }, headers: { 'x-forwarded-for': ip } })
    expect((await from('203.0.113.1')).status).toBe(202)
    expect((await from('203.0.113.2')).status).toBe(202)
    expect((await from('203.0.113.3')).status).toBe(429)
  })

  it('keys on the forwarded client address behind a trusted proxy, IPv6 clients by their /64', async () => {
    const { client } = await start({ RATE_LIMIT_RESET_PER_HOUR: '1', TRUST_PROXY: '127.0.0.1' })
    const email = 'someone@example.com'
    const from = (ip: string) =>
      client.post('/password-reset', { json: { email }, headers: { 'x-forwarded-for': ip } })
    expect((await from('203.0.113.1')).status).toBe(202)
    expect((await from('203.0.113.1')).status).toBe(429)
    expect((await from('203.0.113.2')).status).toBe(202)

    expect((await from('2001:db8:1:2::1')).status).toBe(202)
    expect((await from('2001:db8:1:2:ffff::9')).status).toBe(429)
    expect((await from('2001:db8:1:3::1')).status).toBe(202)
  })
})
