import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  Client,
  accountWithRoles,
  signupAndLogin,
  type Account,
  type Reply,
} from '../helpers/client.js'
import { roleSetter, startTestServer, type TestServer } from '../helpers/server.js'

/** Words that would reveal internals: stack frames, SQL, file paths, library names. */
const LEAKS =
  /\bat \w+ \(|node_modules|\/src\/|\.ts:\d|\bselect\b.*\bfrom\b|\binsert into\b|sqlite|postgres|kysely|fastify|ajv|jose|argon2|bcrypt|FST_|SQLSTATE|Error:/i

function expectProblem(reply: Reply, status: number) {
  expect(reply.status, reply.text).toBe(status)
  expect(reply.headers.get('content-type')).toMatch(/^application\/problem\+json/)
  expect(reply.body).toMatchObject({
    type: expect.any(String),
    title: expect.any(String),
    status,
    detail: expect.any(String),
  })
  expect(reply.text).not.toMatch(LEAKS)
}

describe('HTTP hygiene', () => {
  let server: TestServer
  let client: Client
  let user: Account
  let admin: Account
  beforeAll(async () => {
    server = await startTestServer({
      env: { ALLOWED_ORIGINS: 'https://app.example,http://localhost:3000' },
    })
    client = new Client(server.url)
    user = await signupAndLogin(client, 'hyg')
    admin = await accountWithRoles(client, roleSetter(server), ['admin'], 'hygadm')
  })
  afterAll(() => server.close())

  it('malformed JSON is a 400 problem', async () => {
    for (const raw of ['{', '{"username": }', 'not json', '{"a":1}}', '\u0000']) {
      expectProblem(
        await client.post('/users', { raw, headers: { 'content-type': 'application/json' } }),
        400,
      )
    }
  })

  it('a wrong content type is a 400 problem', async () => {
    expectProblem(
      await client.post('/users', {
        raw: '<user/>',
        headers: { 'content-type': 'application/xml' },
      }),
      400,
    )
    expectProblem(
      await client.post('/documents', {
        token: user.access,
        raw: 'title=x',
        headers: { 'content-type': 'text/plain' },
      }),
      400,
    )
  })

  it('a form-encoded body is refused everywhere except POST /token, and creates nothing', async () => {
    const identity = {
      username: 'formsignup_x',
      email: 'formsignup_x@example.com',
      password: 'Fm9!secret-passw0rd',
    }
    expectProblem(await client.post('/users', { form: identity }), 400)
    expect(
      await server.ctx.db
        .selectFrom('users')
        .select('id')
        .where('username_lower', '=', identity.username)
        .execute(),
    ).toEqual([])
    expectProblem(
      await client.post('/login', { form: { username: user.username, password: user.password } }),
      400,
    )
    expectProblem(
      await client.post('/documents', { token: user.access, form: { title: 'f', content: 'c' } }),
      400,
    )
    expect(
      await server.ctx.db
        .selectFrom('documents')
        .select('id')
        .where('owner_id', '=', user.id)
        .execute(),
    ).toEqual([])
    expect(
      (await client.post('/token', { form: { username: user.username, password: user.password } }))
        .status,
    ).toBe(200)
  })

  it('a body over the limit is a 413 problem', async () => {
    const big = JSON.stringify({
      username: 'a'.repeat(64 * 1024),
      email: 'x@example.com',
      password: 'p',
    })
    expectProblem(
      await client.post('/users', { raw: big, headers: { 'content-type': 'application/json' } }),
      413,
    )
    const form = `username=${'a'.repeat(64 * 1024)}&password=x`
    expectProblem(
      await client.post('/token', {
        raw: form,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      }),
      413,
    )
  })

  it('a malformed URL or an over-long path parameter is a 400 problem, not the framework error', async () => {
    expectProblem(await client.get('/documents/%E0%A4%A'), 400)
    expectProblem(await client.get(`/users/${'a'.repeat(300)}`), 400)
  })

  it('an unknown route is a 404 problem', async () => {
    expectProblem(await client.get('/nope'), 404)
    expectProblem(await client.delete('/users'), 404)
    expectProblem(await client.get('/../../etc/passwd'), 404)
  })

  it('validation failures are 422 problems with an errors list', async () => {
    const reply = await client.post('/users', { json: { username: 1 } })
    expectProblem(reply, 422)
    expect(reply.body.errors).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ field: 'username', message: expect.any(String) }),
      ]),
    )
  })

  it.each([
    ['__proto__ at top level', '{"__proto__": {"isAdmin": true}, "title": "t", "content": "c"}'],
    ['__proto__ nested', '{"title": "t", "content": "c", "x": {"__proto__": {"polluted": 1}}}'],
    [
      'constructor.prototype',
      '{"constructor": {"prototype": {"polluted": 1}}, "title": "t", "content": "c"}',
    ],
  ])('a body with %s is refused and Object.prototype stays clean', async (_label, raw) => {
    const reply = await client.post('/documents', {
      token: user.access,
      raw,
      headers: { 'content-type': 'application/json' },
    })
    expect([400, 422]).toContain(reply.status)
    expect(reply.headers.get('content-type')).toMatch(/problem\+json/)
    expect(({} as Record<string, unknown>).isAdmin).toBeUndefined()
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    const stored = await server.ctx.db
      .selectFrom('documents')
      .select('id')
      .where('owner_id', '=', user.id)
      .execute()
    expect(stored).toEqual([])
  })

  it('a form body with __proto__ keys cannot pollute either', async () => {
    const raw = '__proto__[isAdmin]=true&constructor[prototype][polluted]=1&username=a&password=b'
    const reply = await client.post('/token', {
      raw,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    })
    expect([400, 401, 422]).toContain(reply.status)
    expect(({} as Record<string, unknown>).isAdmin).toBeUndefined()
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  })

  const requiredHeaders = (reply: Reply) => {
    const h = reply.headers
    const csp = h.get('content-security-policy') ?? ''
    expect(csp).toContain("default-src 'self'")
    expect(csp).toContain("frame-ancestors 'none'")
    expect(csp).not.toContain('unsafe-eval')
    expect(h.get('x-frame-options')).toBe('DENY')
    expect(h.get('x-content-type-options')).toBe('nosniff')
    expect(h.get('referrer-policy')).toBe('strict-origin-when-cross-origin')
    const permissions = h.get('permissions-policy') ?? ''
    for (const feature of ['geolocation=()', 'microphone=()', 'camera=()'])
      expect(permissions).toContain(feature)
    expect(h.get('cross-origin-opener-policy')).toBe('same-origin')
    expect(h.get('cross-origin-resource-policy')).toBe('same-origin')
    expect(h.get('x-xss-protection')).toBe('0')
    expect(h.get('x-powered-by')).toBeNull()
    expect(h.get('server')).toBeNull()
    expect(h.get('strict-transport-security')).toBeNull()
  }

  it('every kind of response carries the security headers and no HSTS over plain HTTP', async () => {
    const replies = [
      await client.get('/health'),
      await client.get('/nope'),
      await client.get('/users/me'),
      await client.get('/users/me', { token: user.access }),
      await client.post('/users', { json: {} }),
      await client.post('/users', { raw: '{', headers: { 'content-type': 'application/json' } }),
      await client.get('/admin/users', { token: user.access }),
      await client.get('/openapi.json'),
      await client.get(`/users/${'a'.repeat(300)}`),
      await client.get('/documents/%E0%A4%A'),
      await client.post('/users', { raw: 'x', headers: { 'content-type': 'text/plain' } }),
      await client.request('OPTIONS', '/users', {
        headers: { origin: 'https://app.example', 'access-control-request-method': 'POST' },
      }),
    ]
    for (const [i, reply] of replies.entries()) {
      expect(reply.headers.get('content-security-policy'), String(i)).not.toBeNull()
      requiredHeaders(reply)
    }
  })

  it('no-store on token and personal-data responses', async () => {
    const login = await client.post('/login', {
      json: { username: user.username, password: user.password },
    })
    expect(login.headers.get('cache-control')).toBe('no-store')
    const refreshed = await client.post('/token/refresh', {
      json: { refresh_token: login.body.refresh_token },
    })
    expect(refreshed.headers.get('cache-control')).toBe('no-store')
    expect(
      (await client.get('/users/me', { token: user.access })).headers.get('cache-control'),
    ).toBe('no-store')
    expect(
      (await client.get(`/users/${user.id}`, { token: user.access })).headers.get('cache-control'),
    ).toBe('no-store')
    expect(
      (await client.get('/admin/users', { token: admin.access })).headers.get('cache-control'),
    ).toBe('no-store')
    expect(
      (await client.get('/documents', { token: user.access })).headers.get('cache-control'),
    ).toBe('no-store')
  })

  describe('CORS', () => {
    it('echoes a listed origin and not another', async () => {
      const listed = await client.get('/health', { headers: { origin: 'https://app.example' } })
      expect(listed.headers.get('access-control-allow-origin')).toBe('https://app.example')
      const other = await client.get('/health', { headers: { origin: 'https://evil.example' } })
      expect(other.headers.get('access-control-allow-origin')).toBeNull()
      const lookalike = await client.get('/health', {
        headers: { origin: 'https://app.example.evil.example' },
      })
      expect(lookalike.headers.get('access-control-allow-origin')).toBeNull()
      const nullOrigin = await client.get('/health', { headers: { origin: 'null' } })
      expect(nullOrigin.headers.get('access-control-allow-origin')).toBeNull()
    })

    it('answers a preflight with the allowed methods, headers and max-age 600', async () => {
      const reply = await client.request('OPTIONS', '/documents', {
        headers: {
          origin: 'http://localhost:3000',
          'access-control-request-method': 'PATCH',
          'access-control-request-headers': 'authorization,content-type',
        },
      })
      expect([200, 204]).toContain(reply.status)
      expect(reply.headers.get('access-control-allow-origin')).toBe('http://localhost:3000')
      expect(reply.headers.get('access-control-max-age')).toBe('600')
      const methods = (reply.headers.get('access-control-allow-methods') ?? '')
        .split(',')
        .map((m) => m.trim())
        .sort()
      expect(methods).toEqual(['DELETE', 'GET', 'PATCH', 'POST', 'PUT'])
      expect((reply.headers.get('access-control-allow-headers') ?? '').toLowerCase()).toMatch(
        /authorization/,
      )
      expect(reply.headers.get('access-control-allow-credentials')).toBeNull()
    })

    it('a refusal (401, 403) to a listed origin still carries the CORS and security headers', async () => {
      for (const reply of [
        await client.get('/users/me', { headers: { origin: 'https://app.example' } }),
        await client.get('/admin/users', {
          token: user.access,
          headers: { origin: 'https://app.example' },
        }),
      ]) {
        expect([401, 403]).toContain(reply.status)
        expect(reply.headers.get('access-control-allow-origin')).toBe('https://app.example')
        requiredHeaders(reply)
      }
    })

    it('a preflight from an unlisted origin gets no allow-origin', async () => {
      const reply = await client.request('OPTIONS', '/documents', {
        headers: { origin: 'https://evil.example', 'access-control-request-method': 'DELETE' },
      })
      expect(reply.headers.get('access-control-allow-origin')).toBeNull()
    })
  })

  describe('bad input on every endpoint never yields a 500', () => {
    const MISSING = '00000000-0000-4000-8000-000000000000'
    const bodies: unknown[] = [
      null,
      0,
      'text',
      true,
      [],
      [{}],
      {},
      { a: { b: { c: { d: [1, 2, 3] } } } },
      { title: 'x'.repeat(20_000) },
      { username: null, password: null },
      { refresh_token: {} },
      { email: ['a@b.co'] },
      { roles: 'admin' },
      { is_active: 'yes' },
      { permission: 1 },
      { content: { $ne: 1 } },
    ]
    const routes: [string, string][] = [
      ['POST', '/users'],
      ['POST', '/login'],
      ['POST', '/token'],
      ['POST', '/token/refresh'],
      ['PATCH', '/users/ID'],
      ['POST', '/documents'],
      ['PATCH', '/documents/DOC'],
      ['PUT', '/documents/DOC/shares/ID'],
      ['DELETE', '/documents/DOC/shares/ID'],
      ['POST', '/logout'],
      ['POST', '/logout/all'],
    ]

    it('answers every malformed body with a 4xx problem', async () => {
      const doc = (
        await client.post('/documents', {
          token: admin.access,
          json: { title: 'fuzz', content: 'c' },
        })
      ).body.id
      for (const [method, template] of routes) {
        const path = template.replace('ID', admin.id).replace('DOC', doc)
        for (const body of bodies) {
          const reply = await client.request(method, path, { token: admin.access, json: body })
          expect(
            reply.status,
            `${method} ${path} ${JSON.stringify(body).slice(0, 40)}`,
          ).toBeLessThan(500)
          if (reply.status >= 400) expect(reply.text).not.toMatch(LEAKS)
        }
      }
      const fresh = await client.post('/login', {
        json: { username: admin.username, password: admin.password },
      })
      expect(
        (await client.get(`/documents/${doc}`, { token: fresh.body.access_token })).body.title,
      ).toBe('fuzz')
    })

    it('answers bad path and query values with a 4xx problem', async () => {
      const paths = [
        '/users/%00',
        `/users/${'a'.repeat(300)}`,
        '/users/1%27%20or%201=1',
        `/documents/${MISSING}x`,
        '/documents/%E0%A4%A',
        '/users/search?q=%00',
        '/users/search?q[]=a&q[]=b',
        '/users/search?q=a&limit=1e3',
        '/admin/users?limit[]=1',
        '/admin/security-events?since=yesterday',
        '/admin/security-events?cursor=-1',
        '/admin/security-events?limit=9999999999999999999',
        '/admin/security-events?user_id=abc',
        '/admin/security-events?type=DROP%20TABLE',
        '/documents?cursor=%FF%FE',
        `/users/search?q=${'%25'.repeat(100)}`,
      ]
      for (const path of paths) {
        const reply = await client.get(path, { token: admin.access })
        expect(reply.status, path).toBeLessThan(500)
        expect(reply.status, path).toBeGreaterThanOrEqual(200)
        if (reply.status >= 400) expect(reply.text, path).not.toMatch(LEAKS)
      }
    })
  })
})

describe('HSTS', () => {
  it('is sent when a trusted proxy says the request came over HTTPS, and only then', async () => {
    const server = await startTestServer({ env: { TRUST_PROXY: '127.0.0.1' } })
    try {
      const client = new Client(server.url)
      const https = await client.get('/health', { headers: { 'x-forwarded-proto': 'https' } })
      expect(https.headers.get('strict-transport-security')).toBe(
        'max-age=31536000; includeSubDomains',
      )
      const http = await client.get('/health', { headers: { 'x-forwarded-proto': 'http' } })
      expect(http.headers.get('strict-transport-security')).toBeNull()
      expect((await client.get('/health')).headers.get('strict-transport-security')).toBeNull()
    } finally {
      await server.close()
    }
  })

  it('is not sent when X-Forwarded-Proto comes from an untrusted address', async () => {
    const server = await startTestServer({ env: { TRUST_PROXY: '10.9.8.7' } })
    try {
      const client = new Client(server.url)
      const reply = await client.get('/health', { headers: { 'x-forwarded-proto': 'https' } })
      expect(reply.headers.get('strict-transport-security')).toBeNull()
    } finally {
      await server.close()
    }
  })
})

describe('client address in security events', () => {
  async function loggedIp(trustProxy: string): Promise<string | null | undefined> {
    const server = await startTestServer({ env: { TRUST_PROXY: trustProxy } })
    try {
      const client = new Client(server.url)
      await client.post('/login', {
        json: { username: 'ghost_user', password: 'Wr0ng!password-00' },
        headers: { 'x-forwarded-for': '203.0.113.9' },
      })
      const row = await server.ctx.db
        .selectFrom('security_events')
        .select('ip')
        .where('type', '=', 'authn_login_fail')
        .executeTakeFirst()
      return row?.ip
    } finally {
      await server.close()
    }
  }

  it('believes X-Forwarded-For only from a trusted proxy', async () => {
    expect(await loggedIp('127.0.0.1')).toBe('203.0.113.9')
    expect(await loggedIp('10.9.8.7')).toBe('127.0.0.1')
  })
})
