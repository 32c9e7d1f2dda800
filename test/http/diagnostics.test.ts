import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Resolver } from '../../src/security/egress.js'
import { accountWithRoles, Client, signupAndLogin, type Account } from '../helpers/client.js'
import { roleSetter, startTestServer, type TestServer } from '../helpers/server.js'

const resolver: Resolver = async (hostname) => {
  const table: Record<string, string[]> = {
    'loop.example': ['127.0.0.1'],
    'private.example': ['10.0.0.1'],
  }
  const answer = table[hostname]
  if (answer === undefined) throw new Error(`ENOTFOUND ${hostname}`)
  return answer
}

describe('POST /diagnostics/ping', () => {
  let server: TestServer
  let client: Client
  let admin: Account
  let dir: string
  let calls: string
  let marker: string

  /** Every argument list the ping program was started with, one call per entry. */
  const invocations = (): string[][] =>
    existsSync(calls)
      ? readFileSync(calls, 'utf8')
          .split('--end--\n')
          .filter((c) => c !== '')
          .map((c) => c.trimEnd().split('\n'))
      : []

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rampart-ping-'))
    calls = join(dir, 'calls.log')
    marker = join(dir, 'pwned')
    // A spy in front of the real ping: it records each argument on its own line, then runs ping.
    const spy = join(dir, 'ping-spy')
    writeFileSync(
      spy,
      `#!/bin/sh\nprintf '%s\\n' "$@" >> '${calls}'\necho '--end--' >> '${calls}'\nexec ping "$@"\n`,
    )
    chmodSync(spy, 0o755)
    server = await startTestServer({
      env: { EGRESS_ALLOW: '127.0.0.1', PING_PATH: spy, PING_TIMEOUT_SECONDS: '1' },
      deps: { resolver },
    })
    client = new Client(server.url)
    admin = await accountWithRoles(client, roleSetter(server), ['admin'])
  })
  afterAll(async () => {
    await server.close()
    rmSync(dir, { recursive: true, force: true })
  })

  const ping = (host: unknown, token = admin.access) =>
    client.post('/diagnostics/ping', { token, json: { host } })

  it('an allowed address answers reachable with a round-trip time', async () => {
    const before = invocations().length
    const reply = await ping('127.0.0.1')
    expect(reply.status).toBe(200)
    expect(reply.body.host).toBe('127.0.0.1')
    expect(reply.body.reachable).toBe(true)
    expect(typeof reply.body.rtt_ms).toBe('number')
    expect(invocations().slice(before)).toEqual([
      ['-n', '-c', '1', '-W', '1', '-w', '1', '--', '127.0.0.1'],
    ])
  })

  it('a host name is pinged by its checked address, never by the text the caller sent', async () => {
    const before = invocations().length
    const reply = await ping('loop.example')
    expect(reply.status).toBe(200)
    expect(reply.body).toMatchObject({ host: 'loop.example', reachable: true })
    expect(invocations().slice(before)).toEqual([
      ['-n', '-c', '1', '-W', '1', '-w', '1', '--', '127.0.0.1'],
    ])
  })

  it.each([
    '::1',
    '127.0.0.2',
    '10.0.0.1',
    'private.example',
    'localhost',
    'unknown.example',
    '0.0.0.0',
  ])('%s is refused by the egress policy with nothing run', async (host) => {
    const before = invocations().length
    const reply = await ping(host)
    expect(reply.status).toBe(400)
    expect(reply.body.detail).toBe('Host not allowed')
    expect(invocations()).toHaveLength(before)
    const event = await server.ctx.db
      .selectFrom('security_events')
      .select(['type', 'outcome', 'details'])
      .orderBy('seq', 'desc')
      .executeTakeFirstOrThrow()
    expect(event).toMatchObject({ type: 'egress_blocked', outcome: 'blocked' })
    expect(JSON.parse(event.details)).toMatchObject({ host, reason: expect.any(String) })
  })

  const injections = () => [
    `127.0.0.1; touch ${marker}`,
    `127.0.0.1;touch$\{IFS}${marker}`,
    `$(touch ${marker})`,
    `127.0.0.1$(touch ${marker})`,
    `\`touch ${marker}\``,
    `127.0.0.1\ntouch ${marker}`,
    `127.0.0.1\r\ntouch ${marker}`,
    `127.0.0.1 && touch ${marker}`,
    `127.0.0.1 | touch ${marker}`,
    `127.0.0.1 || touch ${marker}`,
    `127.0.0.1 & touch ${marker}`,
    `127.0.0.1 > ${marker}`,
    '-f',
    '-c 100000 127.0.0.1',
    '--help',
    '-fc1000',
    '127.0.0.1 -f',
    '-',
    '-127.0.0.1',
    '127.0.0.1 ',
    ' 127.0.0.1',
    '127.0.0.1\u0000',
    'a..b',
    `${'a'.repeat(64)}.example`,
    '[::1]',
    '127.1',
    '0x7f.0.0.1',
    'http://127.0.0.1/',
  ]

  it('injection and option payloads are a 422, nothing runs and no command takes effect', async () => {
    const before = invocations().length
    for (const host of injections()) {
      const reply = await ping(host)
      expect({ host, status: reply.status }).toEqual({ host, status: 422 })
      expect(reply.body.errors).toEqual([{ field: 'host', message: expect.any(String) }])
    }
    expect(invocations()).toHaveLength(before)
    expect(existsSync(marker)).toBe(false)
  })

  it.each([
    [{}],
    [{ host: 42 }],
    [{ host: '' }],
    [{ host: 'a'.repeat(254) }],
    [{ host: '127.0.0.1', count: 5 }],
  ])('a malformed body %j is a 422', async (json) => {
    const reply = await client.post('/diagnostics/ping', { token: admin.access, json })
    expect(reply.status).toBe(422)
  })

  it('is for admins only: a user is refused and nothing runs', async () => {
    const user = await signupAndLogin(client)
    const before = invocations().length
    const reply = await ping('127.0.0.1', user.access)
    expect(reply.status).toBe(403)
    expect(invocations()).toHaveLength(before)
  })
})

describe('POST /diagnostics/ping without a ping program', () => {
  let server: TestServer
  let client: Client
  let admin: Account

  beforeAll(async () => {
    server = await startTestServer({
      env: { EGRESS_ALLOW: '127.0.0.1', PING_PATH: join(tmpdir(), 'rampart-no-such-dir', 'ping') },
      deps: { resolver },
    })
    client = new Client(server.url)
    admin = await accountWithRoles(client, roleSetter(server), ['admin'])
  })
  afterAll(() => server.close())

  it('answers 503 problem+json rather than failing', async () => {
    const reply = await client.post('/diagnostics/ping', {
      token: admin.access,
      json: { host: '127.0.0.1' },
    })
    expect(reply.status).toBe(503)
    expect(reply.headers.get('content-type')).toMatch(/application\/problem\+json/)
    expect(reply.body.detail).toBe('ping is not available on this server')
  })
})
