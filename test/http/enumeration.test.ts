import { performance } from 'node:perf_hooks'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Client, signupAndLogin, type Account, type Reply } from '../helpers/client.js'
import { ManualClock, startTestServer, type TestServer } from '../helpers/server.js'

const TRIES = 50
// Headers that differ on every response by design.
const PER_RESPONSE = new Set(['x-request-id', 'date'])

function shape(reply: Reply): string {
  const headers = [...reply.headers].filter(([name]) => !PER_RESPONSE.has(name)).sort()
  return JSON.stringify({ status: reply.status, headers, body: reply.text })
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]!
}

/**
 * Existing and unknown accounts must be indistinguishable. Each side sends from its own client
 * address (through the trusted proxy) so the per-client counters, and with them the RateLimit
 * headers, advance identically; the clock is frozen so reset times match too.
 */
describe('account enumeration', () => {
  let server: TestServer
  let client: Client
  let account: Account
  beforeAll(async () => {
    server = await startTestServer({
      clock: new ManualClock(),
      env: {
        TRUST_PROXY: '127.0.0.1',
        RATE_LIMIT_RESET_PER_HOUR: '1000',
        RATE_LIMIT_LOGIN_FAILURES: '100',
        RATE_LIMIT_LOGIN_USER_FAILURES: '10000',
        RATE_LIMIT_LOGIN_IP_FAILURES_PER_DAY: '1000000',
      },
    })
    client = new Client(server.url)
    account = await signupAndLogin(client)
  })
  afterAll(() => server.close())

  async function compare(existing: () => Promise<Reply>, unknown: () => Promise<Reply>) {
    const times = { existing: [] as number[], unknown: [] as number[] }
    for (let i = 0; i < TRIES; i++) {
      const order =
        i % 2 === 0 ? (['existing', 'unknown'] as const) : (['unknown', 'existing'] as const)
      const replies: Partial<Record<'existing' | 'unknown', Reply>> = {}
      for (const side of order) {
        const started = performance.now()
        replies[side] = await (side === 'existing' ? existing() : unknown())
        times[side].push(performance.now() - started)
      }
      expect(shape(replies.existing!)).toBe(shape(replies.unknown!))
      await server.ctx.tasks.idle()
    }
    return Math.abs(median(times.existing) - median(times.unknown))
  }

  it('answers a reset request for an existing and an unknown address identically and in about the same time', async () => {
    const post = (email: string, ip: string) =>
      client.post('/password-reset', { json: { email }, headers: { 'x-forwarded-for': ip } })
    const gap = await compare(
      () => post(account.email, '198.51.100.1'),
      () => post('nobody-here@example.com', '198.51.100.2'),
    )
    expect(gap).toBeLessThan(10)
  })

  it('answers a failed login for an existing and an unknown username identically and in about the same time', async () => {
    const post = (username: string, ip: string) =>
      client.post('/login', {
        json: { username, password: 'Not-the-password-9!' },
        headers: { 'x-forwarded-for': ip },
      })
    const gap = await compare(
      () => post(account.username, '198.51.100.3'),
      () => post('no_such_person', '198.51.100.4'),
    )
    expect(gap).toBeLessThan(10)
  }, 120_000)
})
