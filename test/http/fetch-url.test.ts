import { once } from 'node:events'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Resolver } from '../../src/security/egress.js'
import { Client, signupAndLogin, type Account } from '../helpers/client.js'
import { startTestServer, type TestServer } from '../helpers/server.js'
import { httpTarget, leakDetector, type Route } from '../helpers/targets.js'

const PUBLIC_ADDRESS = '93.184.215.14'

/** A resolver from a fixed table: tests never ask real DNS, and unknown names do not resolve. */
function tableResolver(table: Record<string, readonly string[]>): Resolver {
  return async (hostname) => {
    const answer = table[hostname]
    if (answer === undefined) throw new Error(`ENOTFOUND ${hostname}`)
    return answer
  }
}

/** Never answers for hang.example, as a dead DNS server would not. */
function hangingOr(resolver: Resolver): Resolver {
  return (hostname) =>
    hostname === 'hang.example' ? new Promise<never>(() => undefined) : resolver(hostname)
}

async function egressEvents(server: TestServer) {
  const rows = await server.ctx.db
    .selectFrom('security_events')
    .selectAll()
    .where('type', '=', 'egress_blocked')
    .orderBy('seq', 'asc')
    .execute()
  return rows.map((row) => ({
    ...row,
    details: JSON.parse(row.details) as Record<string, unknown>,
  }))
}

describe('POST /fetch-url refuses every forbidden destination', () => {
  let server: TestServer
  let client: Client
  let user: Account
  let leak4: Awaited<ReturnType<typeof leakDetector>>
  let leak6: Awaited<ReturnType<typeof leakDetector>>
  let rebindLookups = 0

  beforeAll(async () => {
    leak4 = await leakDetector('127.0.0.1')
    leak6 = await leakDetector('::1')
    const table = tableResolver({
      'public.example': [PUBLIC_ADDRESS],
      'private.example': ['127.0.0.1'],
      'mixed.example': [PUBLIC_ADDRESS, '127.0.0.1'],
      'v6only.example': ['::1'],
      'mapped.example': ['::ffff:127.0.0.1'],
      'nat64.example': ['64:ff9b::7f00:1'],
    })
    // Answers a public address to the first lookup and loopback to every later one.
    const rebinding: Resolver = async (hostname) => {
      if (hostname !== 'rebind.example') return table(hostname)
      rebindLookups++
      return rebindLookups === 1 ? [PUBLIC_ADDRESS] : ['127.0.0.1']
    }
    server = await startTestServer({
      env: { EGRESS_PORTS: `80,443,8080,8443,${leak4.port},${leak6.port}` },
      deps: { resolver: rebinding },
    })
    client = new Client(server.url)
    user = await signupAndLogin(client)
  })
  afterAll(async () => {
    await server.close()
    await leak4.close()
    await leak6.close()
  })

  const p = () => leak4.port
  const p6 = () => leak6.port
  // Public SSRF bypass lists (PayloadsAllTheThings, OWASP SSRF cheat sheet), aimed at the leak
  // detectors' ports so that any request that got through would be counted.
  const payloads: (() => string)[] = [
    () => `http://127.0.0.1:${p()}/`,
    () => `http://127.1:${p()}/`,
    () => `http://127.0.1:${p()}/`,
    () => `http://0x7f.1:${p()}/`,
    () => `http://0x7f.0.0.1:${p()}/`,
    () => `http://0x7f000001:${p()}/`,
    () => `http://0X7F.0X00.0X00.0X01:${p()}/`,
    () => `http://2130706433:${p()}/`,
    () => `http://017700000001:${p()}/`,
    () => `http://0177.0.0.1:${p()}/`,
    () => `http://0177.1:${p()}/`,
    () => `http://00000177.0.0.01:${p()}/`,
    () => `http://127.000.000.001:${p()}/`,
    () => `http://0x7f.0.0.0x1:${p()}/`,
    () => `http://127.127.127.127:${p()}/`,
    () => `http://0:${p()}/`,
    () => `http://0.0.0.0:${p()}/`,
    () => `http://%31%32%37%2e%30%2e%30%2e%31:${p()}/`,
    () => `http://\u2460\u2461\u2466.\u24ea.\u24ea.\u2460:${p()}/`,
    () => `http://\uff11\uff12\uff17.\uff10.\uff10.\uff11:${p()}/`,
    () => `http://127\u30020\u30020\u30021:${p()}/`,
    () => `http://[::1]:${p6()}/`,
    () => `http://[::]:${p6()}/`,
    () => `http://[0:0:0:0:0:0:0:1]:${p6()}/`,
    () => `http://[0000::1]:${p6()}/`,
    () => `http://[::ffff:127.0.0.1]:${p()}/`,
    () => `http://[::ffff:7f00:1]:${p()}/`,
    () => `http://[0:0:0:0:0:ffff:7f00:1]:${p()}/`,
    () => `http://[0:0:0:0:0:ffff:127.0.0.1]:${p()}/`,
    () => `http://[::127.0.0.1]:${p()}/`,
    () => `http://[::ffff:0:127.0.0.1]:${p()}/`,
    () => `http://[64:ff9b::127.0.0.1]:${p()}/`,
    () => `http://[64:ff9b::7f00:1]:${p()}/`,
    () => `http://[2002:7f00:1::1]:${p()}/`,
    () => `http://[2001:0:7f00:1::1]:${p()}/`,
    () => `http://[2001:0:4136:e378:8000:63bf:80ff:fffe]:${p()}/`,
    () => `http://[::ffff:a9fe:a9fe]:${p()}/`,
    () => `http://[fd00:ec2::254]:${p()}/`,
    () => `http://[fe80::1]:${p()}/`,
    () => `http://localhost:${p()}/`,
    () => `http://localhost.:${p()}/`,
    () => `http://LocalHost:${p()}/`,
    () => `http://localhost%2e:${p()}/`,
    () => `http://app.localhost:${p()}/`,
    () => `http://private.example:${p()}/`,
    () => `http://private.example.:${p()}/`,
    () => `http://mixed.example:${p()}/`,
    () => `http://v6only.example:${p6()}/`,
    () => `http://mapped.example:${p()}/`,
    () => `http://nat64.example:${p()}/`,
    () => `http://evil@127.0.0.1:${p()}/`,
    () => `http://public.example@127.0.0.1:${p()}/`,
    () => `http://public.example:80@127.0.0.1:${p()}/`,
    () => `http://user:pass@public.example/`,
    () => `http://127.0.0.1:${p()}#@public.example/`,
    () => `http://127.0.0.1:${p()}?@public.example/`,
    () => `http://127.0.0.1:${p()}\\@public.example/`,
    () => `http://public.example&@127.0.0.1:${p()}#@public.example/`,
    () => `file:///etc/passwd`,
    () => `file://localhost/etc/passwd`,
    () => `gopher://127.0.0.1:${p()}/_GET%20/`,
    () => `ftp://127.0.0.1:${p()}/`,
    () => `dict://127.0.0.1:${p()}/info`,
    () => `ldap://127.0.0.1:${p()}/`,
    () => `ws://127.0.0.1:${p()}/`,
    () => `data:text/html,<title>x</title>`,
    () => `javascript:alert(1)`,
    () => `http://public.example:22/`,
    () => `http://public.example:25/`,
    () => `http://public.example:6379/`,
    () => `https://public.example:11211/`,
    () => `http://public.example:0/`,
    () => `http://unknown.example/`,
    () => `http:/\\127.0.0.1:${p()}/`,
    () => `not a url at all`,
  ]

  it('has at least 50 bypass payloads', () => expect(payloads.length).toBeGreaterThanOrEqual(50))

  it('answers 400 URL not allowed to every payload, and no connection reaches loopback', async () => {
    const before = (await egressEvents(server)).length
    for (const payload of payloads) {
      const url = payload()
      const reply = await client.post('/fetch-url', { token: user.access, json: { url } })
      expect({ url, status: reply.status, detail: reply.body?.detail }).toEqual({
        url,
        status: 400,
        detail: 'URL not allowed',
      })
      expect(reply.text).not.toMatch(/loopback|private|scheme|userinfo|port \d/)
    }
    expect(leak4.connections()).toBe(0)
    expect(leak6.connections()).toBe(0)

    const events = (await egressEvents(server)).slice(before)
    expect(events).toHaveLength(payloads.length)
    for (const event of events) {
      expect(event.outcome).toBe('blocked')
      expect(event.user_id).toBe(user.id)
      expect(typeof event.details.reason).toBe('string')
    }
  })

  it('a name that answers public first and loopback at connect time is refused when dialled', async () => {
    const before = (await egressEvents(server)).length
    const reply = await client.post('/fetch-url', {
      token: user.access,
      json: { url: `http://rebind.example:${p()}/` },
    })
    expect(reply.status).toBe(400)
    expect(reply.body.detail).toBe('URL not allowed')
    // The first answer passed the check; the second was made for the connection itself.
    expect(rebindLookups).toBe(2)
    expect(leak4.connections()).toBe(0)
    const [event] = (await egressEvents(server)).slice(before)
    expect(event?.details.reason).toBe('connect: ipv4 loopback')
  })

  it('anonymous callers are refused before anything is fetched', async () => {
    const reply = await client.post('/fetch-url', { json: { url: `http://127.0.0.1:${p()}/` } })
    expect(reply.status).toBe(401)
    expect(leak4.connections()).toBe(0)
  })

  it.each([
    [{}],
    [{ url: '' }],
    [{ url: 42 }],
    [{ url: 'http://public.example/', extra: true }],
    [{ url: `http://public.example/${'a'.repeat(2100)}` }],
  ])('a malformed body %j is a 422 and fetches nothing', async (json) => {
    const reply = await client.post('/fetch-url', { token: user.access, json })
    expect(reply.status).toBe(422)
    expect(reply.headers.get('content-type')).toMatch(/application\/problem\+json/)
  })
})

describe('POST /fetch-url on an allowed host', () => {
  let server: TestServer
  let client: Client
  let user: Account
  let target: Awaited<ReturnType<typeof httpTarget>>
  let leak: Awaited<ReturnType<typeof leakDetector>>
  let leak6: Awaited<ReturnType<typeof leakDetector>>
  const closed: { drip: Promise<unknown>[]; huge: Promise<unknown>[] } = { drip: [], huge: [] }
  let hugeBytesSent = 0
  let seenHeaders: Record<string, unknown> = {}

  const base = () => `http://127.0.0.1:${target.port}`

  const redirect =
    (location: () => string): Route =>
    (_, res) => {
      res.writeHead(302, { location: location() }).end()
    }
  const chain = Object.fromEntries(
    [1, 2, 3, 4, 5, 6].map((n) => [`/chain/${n}`, redirect(() => `/chain/${n - 1}`)]),
  )
  // Each forbidden hop is reached from the allowed host; the second-to-last goes through one
  // allowed hop first.
  const FORBIDDEN_HOPS: Record<string, () => string> = {
    '/to/loopback2': () => `http://127.0.0.2:${leak.port}/`,
    '/to/loopback2-encoded': () => `http://0x7f000002:${leak.port}/`,
    '/to/v6': () => `http://[::1]:${leak6.port}/`,
    '/to/v6-mapped': () => `http://[::ffff:127.0.0.2]:${leak.port}/`,
    '/to/localhost': () => `http://localhost:${leak.port}/`,
    '/to/private-name': () => `http://private.example:${leak.port}/`,
    '/to/unknown-name': () => `http://unknown.example:${leak.port}/`,
    '/to/file': () => 'file:///etc/passwd',
    '/to/gopher': () => `gopher://127.0.0.2:${leak.port}/_x`,
    '/to/userinfo': () => `http://evil@127.0.0.1:${target.port}/page`,
    '/to/port': () => 'http://127.0.0.1:6379/',
    '/to/via-allowed-hop': () => '/to/loopback2',
  }
  const redirects = (): Record<string, Route> => ({
    '/chain/0': (_, res) =>
      res.writeHead(200, { 'content-type': 'text/html' }).end('<title>End</title>'),
    ...chain,
    '/hop/relative': redirect(() => '../page'),
    ...Object.fromEntries(Object.entries(FORBIDDEN_HOPS).map(([path, to]) => [path, redirect(to)])),
  })

  beforeAll(async () => {
    leak = await leakDetector('127.0.0.2')
    leak6 = await leakDetector('::1')
    target = await httpTarget('127.0.0.1', {
      '/page': (_, res) => {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
        res.end(
          `<!doctype html><html><head><title> Hello &amp;\n world </title></head><body>${'x'.repeat(3000)}</body></html>`,
        )
      },
      '/headers': (req, res) => {
        seenHeaders = { ...req.headers }
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok')
      },
      '/latin1': (_, res) => {
        res.writeHead(200, { 'content-type': 'text/plain; charset=iso-8859-1' })
        res.end(Buffer.from([0x63, 0x61, 0x66, 0xe9]))
      },
      '/binary': (_, res) => {
        res.writeHead(200, { 'content-type': 'image/png' }).end(Buffer.alloc(4096, 0x89))
      },
      '/not-found-page': (_, res) => {
        res.writeHead(404, { 'content-type': 'text/html' }).end('<title>Missing</title>')
      },
      '/drip': (_, res) => {
        closed.drip.push(once(res, 'close'))
        res.writeHead(200, { 'content-type': 'text/html' })
        const timer = setInterval(() => res.write('.'), 50)
        res.on('close', () => clearInterval(timer))
      },
      '/stall': (_, res) => {
        closed.drip.push(once(res, 'close'))
      },
      ...redirects(),
      '/huge': (_, res) => {
        closed.huge.push(once(res, 'close'))
        res.writeHead(200, { 'content-type': 'text/html' })
        res.write('<html><head><title>Big</title></head><body>')
        const chunk = Buffer.alloc(16 * 1024, 0x61)
        // Writes for as long as the client reads: an endless page, paced by backpressure.
        const pump = () => {
          while (!res.destroyed) {
            hugeBytesSent += chunk.length
            if (!res.write(chunk)) return void res.once('drain', pump)
          }
        }
        pump()
      },
    })
    server = await startTestServer({
      env: {
        EGRESS_ALLOW: '127.0.0.1',
        EGRESS_PORTS: `80,443,8080,8443,${target.port},${leak.port},${leak6.port}`,
        FETCH_TIMEOUT_MS: '1500',
        FETCH_MAX_BYTES: '65536',
      },
      deps: {
        resolver: hangingOr(
          tableResolver({ 'loop.example': ['127.0.0.1'], 'private.example': ['10.0.0.1'] }),
        ),
      },
    })
    client = new Client(server.url)
    user = await signupAndLogin(client)
  })
  afterAll(async () => {
    await server.close()
    await target.close()
    await leak.close()
    await leak6.close()
  })

  const fetchUrl = (url: string, headers?: Record<string, string>) =>
    client.post('/fetch-url', {
      token: user.access,
      json: { url },
      ...(headers === undefined ? {} : { headers }),
    })

  it('answers the page with its status, type, title and the first 1000 characters', async () => {
    const reply = await fetchUrl(`${base()}/page#fragment`)
    expect(reply.status).toBe(200)
    expect(reply.body).toMatchObject({
      url: `${base()}/page#fragment`,
      final_url: `${base()}/page`,
      status: 200,
      content_type: 'text/html; charset=utf-8',
      title: 'Hello & world',
    })
    expect(reply.body.content).toHaveLength(1000)
    expect(reply.body.content.startsWith('<!doctype html>')).toBe(true)
  })

  it('reaches an allowed address through a host name too', async () => {
    const reply = await fetchUrl(`http://loop.example:${target.port}/page`)
    expect(reply.status).toBe(200)
    expect(reply.body.title).toBe('Hello & world')
  })

  it('forwards no caller header, cookie or credential to the remote server', async () => {
    const reply = await fetchUrl(`${base()}/headers`, {
      cookie: 'sid=secret',
      'x-api-key': 'k',
      'x-forwarded-for': '10.0.0.1',
    })
    expect(reply.status).toBe(200)
    expect(Object.keys(seenHeaders).sort()).toEqual(['accept', 'connection', 'host', 'user-agent'])
    expect(JSON.stringify(seenHeaders)).not.toMatch(/secret|Bearer|10\.0\.0\.1/)
  })

  it('decodes the declared charset and leaves non-text bodies undecoded', async () => {
    const latin = await fetchUrl(`${base()}/latin1`)
    expect(latin.body.content).toBe('caf\u00e9')
    const binary = await fetchUrl(`${base()}/binary`)
    expect(binary.body).toMatchObject({
      status: 200,
      content_type: 'image/png',
      title: null,
      content: '',
    })
  })

  it('reports the remote status of an error page as data, not as its own error', async () => {
    const reply = await fetchUrl(`${base()}/not-found-page`)
    expect(reply.status).toBe(200)
    expect(reply.body).toMatchObject({ status: 404, title: 'Missing' })
  })

  it('follows up to five redirects by hand and reports where it ended', async () => {
    const reply = await fetchUrl(`${base()}/chain/5`)
    expect(reply.status).toBe(200)
    expect(reply.body).toMatchObject({ final_url: `${base()}/chain/0`, title: 'End' })
    const relative = await fetchUrl(`${base()}/hop/relative`)
    expect(relative.body.final_url).toBe(`${base()}/page`)
  })

  it('refuses a sixth redirect', async () => {
    const reply = await fetchUrl(`${base()}/chain/6`)
    expect(reply.status).toBe(502)
    expect(reply.body.detail).toBe('Too many redirects')
    expect(target.hits.filter((hit) => hit === '/chain/0')).toHaveLength(1)
  })

  it.each(Object.keys(FORBIDDEN_HOPS))(
    'a redirect %s to a forbidden place is re-checked and refused',
    async (path) => {
      const hits = target.hits.length
      const reply = await fetchUrl(`${base()}${path}`)
      expect(reply.status).toBe(400)
      expect(reply.body.detail).toBe('URL not allowed')
      expect(leak.connections()).toBe(0)
      expect(leak6.connections()).toBe(0)
      // Only the allowed hops reached the target; the forbidden one was never requested.
      expect(target.hits.slice(hits).every((hit) => hit.startsWith('/to/'))).toBe(true)
      const events = await egressEvents(server)
      expect(Number(events.at(-1)?.details.hop)).toBeGreaterThanOrEqual(1)
    },
  )

  it('a slow-drip page is cut at the total timeout and its connection closed', async () => {
    const reply = await fetchUrl(`${base()}/drip`)
    expect(reply.status).toBe(504)
    expect(reply.headers.get('content-type')).toMatch(/application\/problem\+json/)
    await Promise.all(closed.drip)
  })

  it('a resolver that never answers is cut at the timeout', async () => {
    const reply = await fetchUrl(`http://hang.example:${target.port}/page`)
    expect(reply.status).toBe(504)
  })

  it('a server that never answers is cut at the timeout', async () => {
    const reply = await fetchUrl(`${base()}/stall`)
    expect(reply.status).toBe(504)
    await Promise.all(closed.drip)
  })

  it('an endless page is read only up to the byte cap, then the connection is closed', async () => {
    const reply = await fetchUrl(`${base()}/huge`)
    expect(reply.status).toBe(200)
    expect(reply.body.title).toBe('Big')
    expect(reply.body.content).toHaveLength(1000)
    await Promise.all(closed.huge)
    // The body never ends, so only the cap can have stopped the read; backpressure kept the
    // server from running ahead by more than the kernel socket buffers (about 4 MB on loopback).
    expect(hugeBytesSent).toBeLessThan(16 * 1024 * 1024)
  })
})
