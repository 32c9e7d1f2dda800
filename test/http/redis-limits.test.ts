import autocannon from 'autocannon'
import { randomBytes } from 'node:crypto'
import { createServer } from 'node:net'
import { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { Client, newIdentity } from '../helpers/client.js'
import { ManualClock, startTestServer, type TestServer } from '../helpers/server.js'

const REDIS_URL = 'redis://127.0.0.1:6379'
const HOUR_START = Math.floor(Date.now() / 3_600_000) * 3_600_000 + 1000

/** A loopback port that was open a moment ago and now refuses connections. */
async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

describe('limits kept in Redis', () => {
  const prefix = `rampart-test-${randomBytes(6).toString('hex')}:`
  const servers: TestServer[] = []
  let admin: Redis
  beforeAll(() => {
    admin = new Redis(REDIS_URL)
  })
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()))
  })
  afterAll(async () => {
    const keys = await admin.keys(`${prefix}*`)
    if (keys.length > 0) await admin.del(...keys)
    await admin.quit()
  })

  async function pair(env: Record<string, string>) {
    const clock = new ManualClock(HOUR_START)
    const shared = {
      REDIS_URL,
      REDIS_KEY_PREFIX: prefix + randomBytes(4).toString('hex') + ':',
      ...env,
    }
    const a = await startTestServer({ env: shared, clock })
    const b = await startTestServer({ env: shared, clock })
    servers.push(a, b)
    return [new Client(a.url), new Client(b.url)] as const
  }

  it('counts one reset limit across two instances sharing Redis', async () => {
    const [a, b] = await pair({})
    const email = 'someone@example.com'
    const statuses: number[] = []
    for (const client of [a, b, a, b, a, b])
      statuses.push((await client.post('/password-reset', { json: { email } })).status)
    expect(statuses).toEqual([202, 202, 202, 202, 202, 429])
  })

  it('blocks a login pair across instances once the shared failure count is reached', async () => {
    const [a, b] = await pair({ RATE_LIMIT_LOGIN_FAILURES: '3' })
    const identity = newIdentity()
    expect((await a.post('/users', { json: identity })).status).toBe(201)
    const attempt = (client: Client, password: string) =>
      client.post('/login', { json: { username: identity.username, password } })
    expect((await attempt(a, 'Wrong-password-1!')).status).toBe(401)
    expect((await attempt(b, 'Wrong-password-1!')).status).toBe(401)
    expect((await attempt(a, 'Wrong-password-1!')).status).toBe(401)
    expect((await attempt(b, identity.password)).status).toBe(429)
  })

  it('holds the global ceiling across instances to within one batch each', async () => {
    const [a, b] = await pair({ RATE_LIMIT_GLOBAL_PER_MINUTE: '200' })
    let allowed = 0
    for (let i = 0; i < 150; i++) {
      for (const client of [a, b]) if ((await client.get('/health')).status === 200) allowed++
    }
    // The limit is 200 and each instance sends its hits in batches of 10.
    expect(allowed).toBeGreaterThanOrEqual(200)
    expect(allowed).toBeLessThanOrEqual(220)
  })

  it('holds the global ceiling across instances during a concurrent burst to within a few batches', async () => {
    const [a, b] = await pair({ RATE_LIMIT_GLOBAL_PER_MINUTE: '600' })
    // autocannon opens many connections at once, so both instances answer a burst in parallel.
    const burst = (client: Client) =>
      new Promise<number>((resolve, reject) => {
        autocannon(
          { url: `${client.base}/health`, connections: 100, amount: 700 },
          (error: Error | null, result) => (error ? reject(error) : resolve(result['2xx'])),
        )
      })
    const counts = await Promise.all([burst(a), burst(b)])
    const allowed = counts[0] + counts[1]
    // Limit 600, batches of 30: each instance may run at most about two batches ahead.
    expect(allowed).toBeGreaterThanOrEqual(600)
    expect(allowed).toBeLessThanOrEqual(720)
  })

  it('reports ready when Redis answers', async () => {
    const [a] = await pair({})
    expect((await a.get('/ready')).status).toBe(200)
  })

  describe('when the limit store is down', () => {
    let server: TestServer
    let client: Client
    let redis: Redis
    beforeAll(async () => {
      redis = new Redis({
        host: '127.0.0.1',
        port: await closedPort(),
        lazyConnect: true,
        enableOfflineQueue: false,
        maxRetriesPerRequest: 1,
        retryStrategy: () => 200,
      })
      redis.on('error', () => undefined)
      await redis.connect().catch(() => undefined)
      server = await startTestServer({ deps: { redis } })
      client = new Client(server.url)
    })
    afterAll(async () => {
      await server.close()
      redis.disconnect()
    })

    it('refuses logins with 503 problem+json and Retry-After instead of letting guesses through', async () => {
      const reply = await client.post('/login', {
        json: { username: 'someone', password: 'Whatever-123!' },
      })
      expect(reply.status).toBe(503)
      expect(reply.headers.get('content-type')).toMatch(/^application\/problem\+json/)
      expect(reply.body).toMatchObject({
        status: 503,
        type: 'urn:rampart:problem:rate-limit-unavailable',
      })
      expect(reply.headers.get('retry-after')).toBe('30')
    })

    it('refuses reset requests and signups with 503 and sends or creates nothing', async () => {
      expect(
        (await client.post('/password-reset', { json: { email: 'a@example.com' } })).status,
      ).toBe(503)
      const identity = newIdentity()
      expect((await client.post('/users', { json: identity })).status).toBe(503)
      await server.ctx.tasks.idle()
      const users = await server.ctx.db.selectFrom('users').select('id').execute()
      expect(users).toEqual([])
    })

    it('keeps the process serving: health answers, readiness says unavailable', async () => {
      expect((await client.get('/health')).status).toBe(200)
      const ready = await client.get('/ready')
      expect(ready.status).toBe(503)
      expect(ready.body).toEqual({ status: 'unavailable' })
      expect((await client.get('/health')).status).toBe(200)
    })
  })
})
