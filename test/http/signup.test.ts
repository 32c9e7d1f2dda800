import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Client, newIdentity } from '../helpers/client.js'
import { startTestServer, type TestServer } from '../helpers/server.js'

describe('signup validation', () => {
  let server: TestServer
  let client: Client
  beforeAll(async () => {
    server = await startTestServer()
    client = new Client(server.url)
  })
  afterAll(() => server.close())

  const userCount = async () =>
    Number(
      (
        await server.ctx.db
          .selectFrom('users')
          .select((eb) => eb.fn.countAll().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    )

  async function expectRefused(body: unknown, field: string) {
    const before = await userCount()
    const reply = await client.post('/users', { json: body })
    expect(reply.status, reply.text).toBe(422)
    expect(reply.headers.get('content-type')).toMatch(/^application\/problem\+json/)
    expect(reply.body.errors.map((e: { field: string }) => e.field)).toContain(field)
    expect(await userCount()).toBe(before)
    return reply
  }

  it('creates an account with roles ["user"] and returns the user object without secrets', async () => {
    const id = newIdentity('ok')
    const reply = await client.post('/users', { json: { ...id, phone: '+14155550123' } })
    expect(reply.status).toBe(201)
    expect(Object.keys(reply.body).sort()).toEqual([
      'created_at',
      'email',
      'id',
      'is_active',
      'mfa_enabled',
      'phone',
      'roles',
      'username',
    ])
    expect(reply.body.roles).toEqual(['user'])
    expect(reply.body.is_active).toBe(true)
    expect(reply.body.phone).toBe('+14155550123')
    expect(reply.text).not.toContain(id.password)
  })

  it.each([
    ['too short', 'ab'],
    ['too long', 'a'.repeat(51)],
    ['a hyphen', 'bad-name'],
    ['a space', 'bad name'],
    ['a dot', 'bad.name'],
    ['non-ASCII letters', 'caf\u00e9user'],
    ['a trailing newline', 'goodname\n'],
  ])('refuses a username with %s', async (_label, username) => {
    const id = newIdentity()
    await expectRefused({ ...id, username }, 'username')
  })

  it('accepts usernames of exactly 3 and 50 allowed characters', async () => {
    for (const username of [
      `a_${Math.random().toString(36).slice(2, 3)}`,
      `U${'x'.repeat(41)}${Math.random().toString(36).slice(2, 10).padEnd(8, '0')}`,
    ]) {
      expect(username.length === 3 || username.length === 50).toBe(true)
      const reply = await client.post('/users', { json: { ...newIdentity(), username } })
      expect(reply.status, reply.text).toBe(201)
    }
  })

  it.each(['admin', 'ADMIN', 'Root', 'sYsTeM', 'Administrator'])(
    'refuses the reserved username %s',
    async (username) => {
      const reply = await expectRefused({ ...newIdentity(), username }, 'username')
      expect(
        reply.body.errors.find((e: { field: string }) => e.field === 'username').message,
      ).toMatch(/reserved/)
    },
  )

  it.each([
    ['no at sign', 'user.example.com'],
    ['no domain', 'user@'],
    ['spaces', 'us er@example.com'],
    [
      'over 254 characters',
      `${'a'.repeat(64)}@${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(63)}.com`,
    ],
  ])('refuses an email with %s', async (_label, email) => {
    await expectRefused({ ...newIdentity(), email }, 'email')
  })

  it('stores the email with a lowercase domain and keeps the local part', async () => {
    const id = newIdentity('mail')
    const email = `${id.username}MiXed@ExAmPle.COM`
    const reply = await client.post('/users', { json: { ...id, email } })
    expect(reply.status).toBe(201)
    expect(reply.body.email).toBe(`${id.username}MiXed@example.com`)
    const row = await server.ctx.db
      .selectFrom('users')
      .select('email')
      .where('id', '=', reply.body.id)
      .executeTakeFirstOrThrow()
    expect(row.email).toBe(`${id.username}MiXed@example.com`)
  })

  it.each([
    ['11 characters', 'Aa1!aaaaaaa'],
    ['129 characters', `Aa1!${'xq'.repeat(62)}z`],
  ])('refuses a password of %s', async (_label, password) => {
    await expectRefused({ ...newIdentity(), password }, 'password')
  })

  it('accepts passwords of exactly 12 and 128 characters', async () => {
    for (const password of ['Zq8!mv3#Lp0w', `Zq8!${'mv3#Lp0w'.repeat(15)}Abcd`]) {
      expect([12, 128]).toContain(password.length)
      const reply = await client.post('/users', { json: { ...newIdentity(), password } })
      expect(reply.status, reply.text).toBe(201)
    }
  })

  it('refuses a password that contains the username, in any case', async () => {
    const id = newIdentity('pw')
    await expectRefused({ ...id, password: `Q9!${id.username.toUpperCase()}zz` }, 'password')
  })

  it('refuses a password that contains the email local part', async () => {
    const id = newIdentity('pw')
    await expectRefused(
      { ...id, email: `mailbox77@example.com`, password: 'Q9!xMailBox77zz' },
      'password',
    )
  })

  it('refuses a password missing an uppercase letter, a digit or a special character by default', async () => {
    for (const password of ['qv8!mw3#lp0wxz', 'QVxMWyLPzWXZab!', 'Qv8mW3xLp0wXz9']) {
      await expectRefused({ ...newIdentity(), password }, 'password')
    }
  })

  it('names every bad field in one 422', async () => {
    const reply = await client.post('/users', {
      json: { username: 'x', email: 'nope', password: 'short', phone: '0123' },
    })
    expect(reply.status).toBe(422)
    const fields = reply.body.errors.map((e: { field: string }) => e.field).sort()
    expect(fields).toEqual(['email', 'password', 'phone', 'username'])
  })

  it('names the rule-based and schema failures together', async () => {
    const reply = await client.post('/users', {
      json: { username: 'root', email: 'bad', password: 'password1234' },
    })
    expect(reply.status).toBe(422)
    expect(reply.body.errors.map((e: { field: string }) => e.field).sort()).toEqual([
      'email',
      'password',
      'username',
    ])
  })

  it('lists each missing field', async () => {
    const reply = await client.post('/users', { json: {} })
    expect(reply.status).toBe(422)
    expect(reply.body.errors.map((e: { field: string }) => e.field).sort()).toEqual([
      'email',
      'password',
      'username',
    ])
  })

  it.each(['12345', '+0123456789', '+1', '+1234567890123456', '14155550123', '+1 415 555 0123'])(
    'refuses the phone %s',
    async (phone) => {
      await expectRefused({ ...newIdentity(), phone }, 'phone')
    },
  )

  it.each(['+12', '+123456789012345'])('accepts the E.164 phone %s', async (phone) => {
    const reply = await client.post('/users', { json: { ...newIdentity(), phone } })
    expect(reply.status, reply.text).toBe(201)
  })

  it.each([
    ['roles', ['admin']],
    ['is_active', false],
    ['id', '00000000-0000-4000-8000-000000000000'],
    ['national_id', '123'],
  ])('refuses the extra field %s and creates nothing', async (field, value) => {
    const reply = await expectRefused({ ...newIdentity(), [field]: value }, field)
    expect(reply.body.errors.find((e: { field: string }) => e.field === field).message).toMatch(
      /not an allowed field/,
    )
  })

  it('answers a taken username and a taken email with one identical 409', async () => {
    const first = newIdentity('dup')
    expect((await client.post('/users', { json: first })).status).toBe(201)
    const sameName = await client.post('/users', {
      json: { ...newIdentity(), username: first.username.toUpperCase() },
    })
    const sameEmail = await client.post('/users', {
      json: { ...newIdentity(), email: first.email.replace('example.com', 'EXAMPLE.com') },
    })
    expect(sameName.status).toBe(409)
    expect(sameEmail.status).toBe(409)
    expect(sameName.body.detail).toBe(sameEmail.body.detail)
    expect(sameName.body.title).toBe(sameEmail.body.title)
    expect(sameName.body.type).toBe(sameEmail.body.type)
    const rows = await server.ctx.db
      .selectFrom('users')
      .select('id')
      .where('username_lower', '=', first.username.toLowerCase())
      .execute()
    expect(rows).toHaveLength(1)
  })

  it.each([
    ['an array', [1, 2]],
    ['a string', 'hello'],
    ['a number', 42],
    ['null', null],
    ['wrong types', { username: 12, email: true, password: ['x'], phone: {} }],
    ['nested objects', { username: { $gt: '' }, email: { a: 1 }, password: { b: 2 } }],
    [
      'huge strings',
      { username: 'a'.repeat(5000), email: 'b'.repeat(5000), password: 'c'.repeat(5000) },
    ],
  ])('answers %s with a 4xx problem and never a 500', async (_label, body) => {
    const before = await userCount()
    const reply = await client.post('/users', { json: body })
    expect([400, 422]).toContain(reply.status)
    expect(reply.headers.get('content-type')).toMatch(/^application\/problem\+json/)
    expect(await userCount()).toBe(before)
  })
})

describe('the common-password blocklist and composition policy', () => {
  let server: TestServer
  let client: Client
  beforeAll(async () => {
    server = await startTestServer({ env: { PASSWORD_COMPOSITION_RULES: 'false' } })
    client = new Client(server.url)
  })
  afterAll(() => server.close())

  it('refuses common passwords of valid length', async () => {
    for (const password of ['password1234', 'qwertyuiop123', '123456789012']) {
      const reply = await client.post('/users', { json: { ...newIdentity(), password } })
      expect(reply.status, password).toBe(422)
      expect(reply.body.errors[0]).toEqual({
        field: 'password',
        message: expect.stringMatching(/common/),
      })
    }
  })

  it('accepts a long lowercase passphrase when composition rules are off', async () => {
    const reply = await client.post('/users', {
      json: { ...newIdentity(), password: 'correct horse battery staple vase' },
    })
    expect(reply.status, reply.text).toBe(201)
  })
})
