import { createHmac, randomBytes, randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  Client,
  accountWithRoles,
  signupAndLogin,
  type Account,
  type Reply,
} from '../helpers/client.js'
import {
  ManualClock,
  freshDatabaseUrl,
  roleSetter,
  startTestServer,
  testSecretEnv,
  type TestServer,
} from '../helpers/server.js'

const OLD_SECRET = `whsec_${randomBytes(32).toString('base64url')}`
const NEW_SECRET = `whsec_${randomBytes(32).toString('base64url')}`
const UNKNOWN_SECRET = `whsec_${randomBytes(32).toString('base64url')}`
const WEBHOOK_ENV = { WEBHOOK_SECRETS: `${OLD_SECRET},${NEW_SECRET}` }

type EventType = 'payment.succeeded' | 'payment.failed' | 'payment.refunded'

/** The sender's side, written from the documented scheme rather than from the server's code. */
function sign(secret: string, timestamp: string, body: string): string {
  return createHmac('sha256', secret).update(`${timestamp}.${body}`, 'utf8').digest('hex')
}

function paymentEvent(
  userId: string,
  amount: number,
  type: EventType = 'payment.succeeded',
  currency = 'EUR',
) {
  return { id: `evt_${randomUUID()}`, type, data: { amount, currency, user_id: userId } }
}

interface Delivery {
  readonly body: string
  readonly timestamp?: string
  readonly signature?: string
  readonly headers?: Record<string, string>
}

function seconds(clock: ManualClock): string {
  return String(Math.floor(clock.now() / 1000))
}

/** A delivery signed now with the given secret. */
function signed(clock: ManualClock, event: unknown, secret = OLD_SECRET): Delivery {
  const body = JSON.stringify(event)
  const timestamp = seconds(clock)
  return { body, timestamp, signature: sign(secret, timestamp, body) }
}

function deliver(client: Client, delivery: Delivery): Promise<Reply> {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    ...delivery.headers,
  }
  if (delivery.timestamp !== undefined) headers['x-timestamp'] = delivery.timestamp
  if (delivery.signature !== undefined) headers['x-signature'] = delivery.signature
  return client.post('/webhooks/payment', { raw: delivery.body, headers })
}

async function paymentRows(server: TestServer, id: string) {
  return server.ctx.db.selectFrom('payments').selectAll().where('id', '=', id).execute()
}

async function balanceOf(server: TestServer, userId: string, currency = 'EUR'): Promise<number> {
  const row = await server.ctx.db
    .selectFrom('payment_balances')
    .select('balance')
    .where('user_id', '=', userId)
    .where('currency', '=', currency)
    .executeTakeFirst()
  return row === undefined ? 0 : Number(row.balance)
}

async function eventsOf(server: TestServer, reply: Reply) {
  const requestId = reply.headers.get('x-request-id')
  if (requestId === null) throw new Error('no request id')
  const rows = await server.ctx.db
    .selectFrom('security_events')
    .selectAll()
    .where('request_id', '=', requestId)
    .execute()
  return rows.map((row) => ({
    type: row.type,
    outcome: row.outcome,
    details: JSON.parse(row.details),
  }))
}

function expectProblem(reply: Reply, status: number): void {
  expect(reply.status).toBe(status)
  expect(reply.headers.get('content-type')).toMatch(/^application\/problem\+json/)
  expect(reply.body.status).toBe(status)
}

describe('payment webhook signatures', () => {
  let server: TestServer
  let client: Client
  let clock: ManualClock
  let payer: Account

  beforeAll(async () => {
    clock = new ManualClock()
    server = await startTestServer({ env: WEBHOOK_ENV, clock })
    client = new Client(server.url)
    payer = await signupAndLogin(client, 'payer')
  })
  afterAll(() => server.close())

  it('a good delivery is processed and credits the balance once', async () => {
    const before = await balanceOf(server, payer.id)
    const event = paymentEvent(payer.id, 1250)
    const reply = await deliver(client, signed(clock, event))

    expect(reply.status).toBe(200)
    expect(reply.body).toEqual({ status: 'processed' })
    expect(await balanceOf(server, payer.id)).toBe(before + 1250)
    const [row] = await paymentRows(server, event.id)
    expect(row).toMatchObject({ type: 'payment.succeeded', currency: 'EUR', user_id: payer.id })
    expect(Number(row?.amount)).toBe(1250)
  })

  it('a delivery without X-Timestamp or X-Signature is refused with 400 and applies nothing', async () => {
    const event = paymentEvent(payer.id, 500)
    const good = signed(clock, event)
    const before = await balanceOf(server, payer.id)

    for (const delivery of [
      { body: good.body },
      { body: good.body, timestamp: good.timestamp },
      { body: good.body, signature: good.signature },
    ]) {
      const reply = await deliver(client, delivery)
      expectProblem(reply, 400)
      expect(reply.body.type).toBe('urn:rampart:problem:webhook-bad-headers')
    }
    expect(await paymentRows(server, event.id)).toHaveLength(0)
    expect(await balanceOf(server, payer.id)).toBe(before)
  })

  it('a timestamp that is not plain Unix seconds is refused with 400, even when signed', async () => {
    const event = paymentEvent(payer.id, 500)
    const body = JSON.stringify(event)
    const now = seconds(clock)
    for (const timestamp of [
      `${now}.5`,
      '1e9',
      `+${now}`,
      `-${now}`,
      '0x10',
      'yesterday',
      '1234567890123',
      `${now},${now}`,
    ]) {
      const reply = await deliver(client, {
        body,
        timestamp,
        signature: sign(OLD_SECRET, timestamp, body),
      })
      expectProblem(reply, 400)
      expect(reply.body.type).toBe('urn:rampart:problem:webhook-bad-headers')
    }
    expect(await paymentRows(server, event.id)).toHaveLength(0)
  })

  it('a signature header that is not hex SHA-256 values is refused with 400 without failing', async () => {
    const good = signed(clock, paymentEvent(payer.id, 500))
    const malformed = [
      'zz' + good.signature!.slice(2),
      good.signature!.slice(1),
      good.signature! + '0',
      'sha256=' + good.signature!,
      ',,, ,',
      '\u00e9'.repeat(64),
      Array.from({ length: 9 }, () => good.signature!).join(','),
    ]
    for (const signature of malformed) {
      const reply = await deliver(client, { ...good, signature })
      expectProblem(reply, 400)
    }
    expect(await paymentRows(server, JSON.parse(good.body).id)).toHaveLength(0)
  })

  it('a bad signature is refused with 401, applies nothing and is logged once with its reason', async () => {
    const event = paymentEvent(payer.id, 700)
    const before = await balanceOf(server, payer.id)
    const reply = await deliver(client, signed(clock, event, UNKNOWN_SECRET))

    expectProblem(reply, 401)
    expect(reply.body.type).toBe('urn:rampart:problem:webhook-bad-signature')
    expect(reply.headers.get('www-authenticate')).not.toBeNull()
    expect(await paymentRows(server, event.id)).toHaveLength(0)
    expect(await balanceOf(server, payer.id)).toBe(before)
    expect(await eventsOf(server, reply)).toEqual([
      expect.objectContaining({
        type: 'webhook_signature_invalid',
        outcome: 'blocked',
        details: expect.objectContaining({ reason: 'signature_mismatch' }),
      }),
    ])
  })

  it('a body changed after signing is refused with 401 and the changed amount is not applied', async () => {
    const event = paymentEvent(payer.id, 100)
    const good = signed(clock, event)
    const before = await balanceOf(server, payer.id)
    const tampered = good.body.replace('"amount":100', '"amount":100000')
    expect(tampered).not.toBe(good.body)

    const reply = await deliver(client, { ...good, body: tampered })
    expectProblem(reply, 401)
    const padded = await deliver(client, { ...good, body: good.body + ' ' })
    expectProblem(padded, 401)
    expect(await paymentRows(server, event.id)).toHaveLength(0)
    expect(await balanceOf(server, payer.id)).toBe(before)
  })

  it('a timestamp changed after signing is refused with 401', async () => {
    const event = paymentEvent(payer.id, 100)
    const good = signed(clock, event)
    const reply = await deliver(client, { ...good, timestamp: String(Number(good.timestamp) + 1) })
    expectProblem(reply, 401)
    expect(await paymentRows(server, event.id)).toHaveLength(0)
  })

  it('a timestamp older than 300 s is refused with 400, applies nothing and is logged', async () => {
    const event = paymentEvent(payer.id, 900)
    const body = JSON.stringify(event)
    const timestamp = String(Math.floor(clock.now() / 1000) - 301)
    const reply = await deliver(client, {
      body,
      timestamp,
      signature: sign(OLD_SECRET, timestamp, body),
    })

    expectProblem(reply, 400)
    expect(reply.body.type).toBe('urn:rampart:problem:webhook-stale')
    expect(await paymentRows(server, event.id)).toHaveLength(0)
    expect(await eventsOf(server, reply)).toEqual([
      expect.objectContaining({
        type: 'webhook_timestamp_rejected',
        details: expect.objectContaining({ reason: 'timestamp_too_old' }),
      }),
    ])
  })

  it('a timestamp more than 300 s ahead is refused with 400 and applies nothing', async () => {
    const event = paymentEvent(payer.id, 900)
    const body = JSON.stringify(event)
    const timestamp = String(Math.floor(clock.now() / 1000) + 301)
    const reply = await deliver(client, {
      body,
      timestamp,
      signature: sign(OLD_SECRET, timestamp, body),
    })

    expectProblem(reply, 400)
    expect(reply.body.type).toBe('urn:rampart:problem:webhook-stale')
    expect(await paymentRows(server, event.id)).toHaveLength(0)
    expect(await eventsOf(server, reply)).toEqual([
      expect.objectContaining({
        type: 'webhook_timestamp_rejected',
        details: expect.objectContaining({ reason: 'timestamp_in_future' }),
      }),
    ])
  })

  it('timestamps exactly 300 s old or ahead are still accepted', async () => {
    const now = Math.floor(clock.now() / 1000)
    for (const timestamp of [String(now - 300), String(now + 300)]) {
      const body = JSON.stringify(paymentEvent(payer.id, 1))
      const reply = await deliver(client, {
        body,
        timestamp,
        signature: sign(OLD_SECRET, timestamp, body),
      })
      expect(reply.body).toEqual({ status: 'processed' })
    }
  })

  it('replaying a delivery answers duplicate and leaves the balance unchanged', async () => {
    const delivery = signed(clock, paymentEvent(payer.id, 4200))
    const first = await deliver(client, delivery)
    expect(first.body).toEqual({ status: 'processed' })
    const after = await balanceOf(server, payer.id)

    for (let i = 0; i < 3; i++) {
      const again = await deliver(client, delivery)
      expect(again.status).toBe(200)
      expect(again.body).toEqual({ status: 'duplicate' })
    }
    expect(await balanceOf(server, payer.id)).toBe(after)
    expect(await paymentRows(server, JSON.parse(delivery.body).id)).toHaveLength(1)
  })

  it('a captured delivery replayed after the window is refused and applies nothing', async () => {
    const event = paymentEvent(payer.id, 3300)
    const captured = signed(clock, event)
    const before = await balanceOf(server, payer.id)
    clock.advance(301_000)
    try {
      const reply = await deliver(client, captured)
      expectProblem(reply, 400)
      expect(reply.body.type).toBe('urn:rampart:problem:webhook-stale')
    } finally {
      clock.advance(-301_000)
    }
    expect(await paymentRows(server, event.id)).toHaveLength(0)
    expect(await balanceOf(server, payer.id)).toBe(before)
  })

  it('an applied event re-signed days later is still a duplicate', async () => {
    const event = paymentEvent(payer.id, 800)
    expect((await deliver(client, signed(clock, event))).body).toEqual({ status: 'processed' })
    const after = await balanceOf(server, payer.id)

    const threeDays = 3 * 86_400_000
    clock.advance(threeDays)
    try {
      const resent = await deliver(client, signed(clock, event, NEW_SECRET))
      expect(resent.status).toBe(200)
      expect(resent.body).toEqual({ status: 'duplicate' })
    } finally {
      clock.advance(-threeDays)
    }
    expect(await balanceOf(server, payer.id)).toBe(after)
  })

  it('a signature by the second configured secret is accepted (rotation)', async () => {
    const event = paymentEvent(payer.id, 10)
    const reply = await deliver(client, signed(clock, event, NEW_SECRET))
    expect(reply.body).toEqual({ status: 'processed' })
  })

  it('a header carrying several signatures is accepted when any one of them matches', async () => {
    const event = paymentEvent(payer.id, 20)
    const body = JSON.stringify(event)
    const timestamp = seconds(clock)
    const header = [sign(UNKNOWN_SECRET, timestamp, body), sign(NEW_SECRET, timestamp, body)].join(
      ', ',
    )
    const reply = await deliver(client, { body, timestamp, signature: header })
    expect(reply.body).toEqual({ status: 'processed' })

    const noneMatch = paymentEvent(payer.id, 20)
    const noneBody = JSON.stringify(noneMatch)
    const wrong = [
      sign(UNKNOWN_SECRET, timestamp, noneBody),
      sign(OLD_SECRET, timestamp, body),
    ].join(',')
    const refused = await deliver(client, { body: noneBody, timestamp, signature: wrong })
    expectProblem(refused, 401)
    expect(await paymentRows(server, noneMatch.id)).toHaveLength(0)
  })

  it('a well-signed body that fails the event schema is refused with 400, logged, and applies nothing', async () => {
    const before = await balanceOf(server, payer.id)
    const base = paymentEvent(payer.id, 600)
    const invalid = [
      { ...base, id: `bad_${randomUUID()}`, type: 'payment.stolen' },
      { ...base, id: `bad_${randomUUID()}`, data: { ...base.data, amount: 6.5 } },
      { ...base, id: `bad_${randomUUID()}`, data: { ...base.data, amount: '600' } },
      { ...base, id: `bad_${randomUUID()}`, data: { ...base.data, amount: -600 } },
      { ...base, id: `bad_${randomUUID()}`, data: { ...base.data, currency: 'eur' } },
      { ...base, id: `bad_${randomUUID()}`, data: { ...base.data, currency: 'EURO' } },
      { ...base, id: `bad_${randomUUID()}`, data: { amount: 600, currency: 'EUR' } },
      { ...base, id: `bad_${randomUUID()}`, data: { ...base.data, user_id: 'not-a-uuid' } },
      { ...base, id: `bad_${randomUUID()}`, data: undefined },
      { ...base, id: `bad_${randomUUID()}`, extra: true },
      { id: `bad_${randomUUID()}`, type: base.type },
    ]
    for (const body of invalid) {
      const reply = await deliver(client, signed(clock, body))
      expectProblem(reply, 400)
      expect(reply.body.type).toBe('urn:rampart:problem:webhook-bad-payload')
      expect(reply.body.errors.length).toBeGreaterThan(0)
      expect(await paymentRows(server, body.id)).toHaveLength(0)
      expect(await eventsOf(server, reply)).toEqual([
        expect.objectContaining({
          type: 'webhook_payload_invalid',
          details: expect.objectContaining({ reason: 'schema', event_id: body.id }),
        }),
      ])
    }
    expect(await balanceOf(server, payer.id)).toBe(before)
  })

  it('a well-signed body that is not JSON, not UTF-8 or poisons a prototype is refused with 400', async () => {
    const event = paymentEvent(payer.id, 600)
    const bodies = [
      '{"id":',
      '',
      `{"__proto__":{"polluted":true},"id":"${event.id}","type":"payment.succeeded","data":${JSON.stringify(event.data)}}`,
      `{"constructor":{"prototype":{"polluted":true}},"id":"${event.id}"}`,
    ]
    const timestamp = seconds(clock)
    for (const body of bodies) {
      const reply = await deliver(client, {
        body,
        timestamp,
        signature: sign(OLD_SECRET, timestamp, body),
      })
      expectProblem(reply, 400)
      expect(reply.body.type).toBe('urn:rampart:problem:webhook-bad-payload')
    }

    const latin1 = Buffer.from(`{"id":"${event.id}","x":"caf\u00e9"}`, 'latin1')
    const headers = {
      'content-type': 'application/json',
      'x-timestamp': timestamp,
      'x-signature': createHmac('sha256', OLD_SECRET)
        .update(`${timestamp}.`)
        .update(latin1)
        .digest('hex'),
    }
    const reply = await client.post('/webhooks/payment', { raw: latin1, headers })
    expectProblem(reply, 400)
    expect(await paymentRows(server, event.id)).toHaveLength(0)
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  })

  it('a well-signed body of another content type never reaches the handler', async () => {
    const event = paymentEvent(payer.id, 600)
    const form = new URLSearchParams({ id: event.id, type: event.type }).toString()
    const timestamp = seconds(clock)
    for (const [type, body] of [
      ['application/x-www-form-urlencoded', form],
      ['text/plain', JSON.stringify(event)],
    ] as const) {
      const reply = await deliver(client, {
        body,
        timestamp,
        signature: sign(OLD_SECRET, timestamp, body),
        headers: { 'content-type': type },
      })
      expectProblem(reply, 400)
    }
    expect(await paymentRows(server, event.id)).toHaveLength(0)
  })

  it('a body over 64 KiB is refused with 413 and applies nothing', async () => {
    const event = { ...paymentEvent(payer.id, 600), note: 'x'.repeat(70 * 1024) }
    const reply = await deliver(client, signed(clock, event))
    expectProblem(reply, 413)
    expect(await paymentRows(server, event.id)).toHaveLength(0)
  })

  it('refunds lower the balance, failures leave it alone, and currencies are kept apart', async () => {
    const user = await signupAndLogin(client, 'ledger')
    for (const event of [
      paymentEvent(user.id, 5000),
      paymentEvent(user.id, 1500, 'payment.refunded'),
      paymentEvent(user.id, 9999, 'payment.failed'),
      paymentEvent(user.id, 700, 'payment.succeeded', 'USD'),
    ]) {
      expect((await deliver(client, signed(clock, event))).body).toEqual({ status: 'processed' })
    }
    const reply = await client.get('/payments/balance', { token: user.access })
    expect(reply.status).toBe(200)
    expect(reply.body).toEqual({
      user_id: user.id,
      balances: [
        { currency: 'EUR', amount: 3500 },
        { currency: 'USD', amount: 700 },
      ],
    })
  })

  it('an event for an unknown user is recorded without touching any balance, and logged', async () => {
    const ghost = randomUUID()
    const event = paymentEvent(ghost, 1000)
    const reply = await deliver(client, signed(clock, event))
    expect(reply.body).toEqual({ status: 'processed' })
    expect(await paymentRows(server, event.id)).toHaveLength(1)
    const balances = await server.ctx.db
      .selectFrom('payment_balances')
      .selectAll()
      .where('user_id', '=', ghost)
      .execute()
    expect(balances).toHaveLength(0)
    expect(await eventsOf(server, reply)).toEqual([
      expect.objectContaining({
        type: 'webhook_payment_unknown_user',
        details: expect.objectContaining({ event_id: event.id, target_user_id: ghost }),
      }),
    ])
    expect((await deliver(client, signed(clock, event))).body).toEqual({ status: 'duplicate' })
  })

  it('20 concurrent identical deliveries apply the event exactly once', async () => {
    const user = await signupAndLogin(client, 'racer')
    const delivery = signed(clock, paymentEvent(user.id, 2500))
    const replies = await Promise.all(Array.from({ length: 20 }, () => deliver(client, delivery)))

    expect(replies.map((r) => r.status)).toEqual(Array(20).fill(200))
    const statuses = replies.map((r): unknown => r.body.status)
    expect(statuses.filter((s) => s === 'processed')).toHaveLength(1)
    expect(statuses.filter((s) => s === 'duplicate')).toHaveLength(19)
    expect(await balanceOf(server, user.id)).toBe(2500)
    expect(await paymentRows(server, JSON.parse(delivery.body).id)).toHaveLength(1)
  })
})

describe('payment listing and balances', () => {
  let server: TestServer
  let client: Client
  let clock: ManualClock
  let alice: Account
  let bob: Account
  let admin: Account
  const aliceEvents: string[] = []

  beforeAll(async () => {
    clock = new ManualClock()
    server = await startTestServer({ env: WEBHOOK_ENV, clock })
    client = new Client(server.url)
    alice = await signupAndLogin(client, 'alice')
    bob = await signupAndLogin(client, 'bob')
    admin = await accountWithRoles(client, roleSetter(server), ['admin'], 'boss')
    for (const amount of [100, 200, 300]) {
      const event = paymentEvent(alice.id, amount)
      aliceEvents.push(event.id)
      expect((await deliver(client, signed(clock, event))).status).toBe(200)
      clock.advance(1000)
    }
    expect((await deliver(client, signed(clock, paymentEvent(bob.id, 999)))).status).toBe(200)
  })
  afterAll(() => server.close())

  it('a user sees only their own payments, newest first, page by page', async () => {
    const first = await client.get('/payments?limit=2', { token: alice.access })
    expect(first.status).toBe(200)
    expect(first.body.items.map((i: { id: string }) => i.id)).toEqual([
      aliceEvents[2],
      aliceEvents[1],
    ])
    expect(first.body.items[0]).toEqual({
      id: aliceEvents[2],
      type: 'payment.succeeded',
      amount: 300,
      currency: 'EUR',
      user_id: alice.id,
      received_at: expect.stringMatching(/Z$/),
    })
    expect(first.body.next_cursor).toEqual(expect.any(String))

    const second = await client.get(`/payments?limit=2&cursor=${first.body.next_cursor}`, {
      token: alice.access,
    })
    expect(second.body.items.map((i: { id: string }) => i.id)).toEqual([aliceEvents[0]])
    expect(second.body.next_cursor).toBeNull()
  })

  it('a non-admin naming another user is refused with 403 and sees none of their payments', async () => {
    const reply = await client.get(`/payments?user_id=${bob.id}`, { token: alice.access })
    expectProblem(reply, 403)
    expect(reply.text).not.toContain(bob.id)
    const balance = await client.get(`/payments/balance?user_id=${bob.id}`, { token: alice.access })
    expectProblem(balance, 403)
    expect(balance.text).not.toContain('999')
  })

  it('a user naming themselves gets their own list', async () => {
    const reply = await client.get(`/payments?user_id=${bob.id}`, { token: bob.access })
    expect(reply.status).toBe(200)
    expect(reply.body.items).toHaveLength(1)
    expect(reply.body.items[0].user_id).toBe(bob.id)
  })

  it('a viewer reads their own payments and balance', async () => {
    const viewer = await accountWithRoles(client, roleSetter(server), ['viewer'], 'viewer')
    expect((await deliver(client, signed(clock, paymentEvent(viewer.id, 42)))).status).toBe(200)
    const list = await client.get('/payments', { token: viewer.access })
    expect(list.body.items.map((i: { amount: number }) => i.amount)).toEqual([42])
    const balance = await client.get('/payments/balance', { token: viewer.access })
    expect(balance.body.balances).toEqual([{ currency: 'EUR', amount: 42 }])
  })

  it("an admin sees every user's payments and can narrow to one user", async () => {
    const all = await client.get('/payments?limit=100', { token: admin.access })
    const owners = new Set(all.body.items.map((i: { user_id: string }) => i.user_id))
    expect(owners.has(alice.id) && owners.has(bob.id)).toBe(true)

    const onlyBob = await client.get(`/payments?user_id=${bob.id}`, { token: admin.access })
    expect(onlyBob.body.items.map((i: { amount: number }) => i.amount)).toEqual([999])
    const bobBalance = await client.get(`/payments/balance?user_id=${bob.id}`, {
      token: admin.access,
    })
    expect(bobBalance.body).toEqual({
      user_id: bob.id,
      balances: [{ currency: 'EUR', amount: 999 }],
    })
  })

  it('pages through events whose ids have the longest allowed length', async () => {
    const user = await signupAndLogin(client, 'longids')
    const ids: string[] = []
    for (const suffix of ['a', 'b']) {
      const event = paymentEvent(user.id, 5)
      event.id = `${suffix}${randomUUID().replaceAll('-', '')}`.padEnd(200, suffix)
      ids.push(event.id)
      expect((await deliver(client, signed(clock, event))).body).toEqual({ status: 'processed' })
      clock.advance(1000)
    }
    const first = await client.get('/payments?limit=1', { token: user.access })
    expect(first.body.items.map((i: { id: string }) => i.id)).toEqual([ids[1]])
    const second = await client.get(`/payments?limit=1&cursor=${first.body.next_cursor}`, {
      token: user.access,
    })
    expect(second.status).toBe(200)
    expect(second.body.items.map((i: { id: string }) => i.id)).toEqual([ids[0]])
  })

  it('an anonymous caller cannot list payments', async () => {
    expectProblem(await client.get('/payments'), 401)
  })

  it('an altered cursor or bad user_id is a 422, never a server error', async () => {
    const forged = [
      Buffer.from('["not a time","x"]').toString('base64url'),
      Buffer.from('{"a":1}').toString('base64url'),
      Buffer.from(`["2020-01-01T00:00:00.000Z","x' or '1'='1"]`).toString('base64url'),
      'AAAA',
    ]
    for (const cursor of forged) {
      expectProblem(await client.get(`/payments?cursor=${cursor}`, { token: alice.access }), 422)
    }
    expectProblem(await client.get('/payments?user_id=nope', { token: admin.access }), 422)
  })
})

describe('payment webhooks on two instances sharing one database', () => {
  let first: TestServer
  let second: TestServer
  let dataDir: string
  let drop: () => Promise<void>
  const clock = new ManualClock()

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'rampart-shared-'))
    const database = await freshDatabaseUrl(dataDir)
    drop = database.drop
    const env = { ...testSecretEnv(), ...WEBHOOK_ENV }
    first = await startTestServer({ env, clock, databaseUrl: database.url })
    second = await startTestServer({ env, clock, databaseUrl: database.url })
  })
  afterAll(async () => {
    await first.close()
    await second.close()
    await drop()
    rmSync(dataDir, { recursive: true, force: true })
  })

  it('one event raced to both instances is applied exactly once', async () => {
    const user = await signupAndLogin(new Client(first.url), 'shared')
    const delivery = signed(clock, paymentEvent(user.id, 7700))
    const clients = [new Client(first.url), new Client(second.url)]
    const replies = await Promise.all(
      Array.from({ length: 20 }, (_, i) => deliver(clients[i % 2]!, delivery)),
    )

    expect(replies.map((r) => r.status)).toEqual(Array(20).fill(200))
    expect(replies.filter((r) => r.body.status === 'processed')).toHaveLength(1)
    expect(await balanceOf(first, user.id)).toBe(7700)
    for (const server of [first, second]) {
      const reply = await new Client(server.url).get('/payments/balance', { token: user.access })
      expect(reply.body.balances).toEqual([{ currency: 'EUR', amount: 7700 }])
    }
  })
})
