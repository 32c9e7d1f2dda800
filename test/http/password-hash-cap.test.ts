import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Client, newIdentity } from '../helpers/client.js'
import { startTestServer, type TestServer } from '../helpers/server.js'

/**
 * One hashing slot and no queue. The test takes the slot itself with a deliberately slow hash
 * (a second or more), so every login that arrives meanwhile meets a full hasher.
 */
describe('password hashing cap', () => {
  let server: TestServer
  let client: Client
  beforeAll(async () => {
    server = await startTestServer({
      env: { PASSWORD_HASH_CONCURRENCY: '1', PASSWORD_HASH_QUEUE: '0' },
      deps: { argon2: { memoryCost: 65_536, timeCost: 12, parallelism: 1 } },
    })
    client = new Client(server.url)
    // The unknown-user dummy hash is made outside the gate; have it ready so the login below
    // meets the full gate at once.
    await server.ctx.hasher.verifyDummy('warm-up')
  })
  afterAll(() => server.close())

  it('refuses a login with 503 problem+json and Retry-After while every hashing slot is busy', async () => {
    const busy = server.ctx.hasher.hash('occupying-the-only-slot')
    const identity = newIdentity()
    const refused = await client.post('/login', {
      json: { username: identity.username, password: identity.password },
    })
    await busy

    expect(refused.status).toBe(503)
    expect(refused.headers.get('content-type')).toMatch(/^application\/problem\+json/)
    expect(refused.headers.get('retry-after')).toBe('1')
    expect(refused.body).toMatchObject({ status: 503, type: 'urn:rampart:problem:password-busy' })
  })

  it('hashes again once the slot is free', async () => {
    const identity = newIdentity()
    expect((await client.post('/users', { json: identity })).status).toBe(201)
    expect(
      (
        await client.post('/login', {
          json: { username: identity.username, password: identity.password },
        })
      ).status,
    ).toBe(200)
  })
})
