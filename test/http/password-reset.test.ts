import { replaceResetToken } from '../../src/modules/password-reset/store.js'
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { SMTPServer } from 'smtp-server'
import { afterEach, describe, expect, it } from 'vitest'
import { Client, signupAndLogin, type Account } from '../helpers/client.js'
import { ManualClock, startTestServer, type TestServer } from '../helpers/server.js'

const NEW_PASSWORD = 'Fresh!Horse-Battery-77'
const ACCEPTED = { message: 'If the email exists, a reset link has been sent' }

function outbox(server: TestServer): string[] {
  try {
    return readdirSync(join(server.dataDir, 'outbox')).map((name) =>
      join(server.dataDir, 'outbox', name),
    )
  } catch {
    return []
  }
}

/** The token from a reset mail (quoted-printable text): the link carries it in the fragment. */
function tokenFrom(mail: string): string {
  const text = mail
    .replace(/=\r?\n/g, '')
    .replace(/=([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)))
  const link = /^(http\S+)$/m.exec(text)?.[1]
  expect(link).toBeDefined()
  const url = new URL(link!)
  expect(url.search).toBe('')
  const token = new URLSearchParams(url.hash.slice(1)).get('token')!
  // The same token stands on a line of its own, readable without decoding the mail.
  expect(mail).toMatch(new RegExp(`^${token}\r?$`, 'm'))
  return token
}

/** A real SMTP server on loopback that keeps every message it receives. */
async function smtpSink() {
  const messages: { to: string[]; raw: string }[] = []
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = []
      stream.on('data', (c: Buffer) => chunks.push(c))
      stream.on('end', () => {
        messages.push({
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks).toString(),
        })
        callback()
      })
    },
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.server.address() as { port: number }
  return {
    messages,
    url: `smtp://127.0.0.1:${port}`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  }
}

describe('password reset', () => {
  const cleanups: (() => Promise<void>)[] = []
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
  })
  async function start(options: Parameters<typeof startTestServer>[0] = {}) {
    const server = await startTestServer(options)
    cleanups.push(() => server.close())
    return { server, client: new Client(server.url) }
  }
  async function requestToken(
    server: TestServer,
    client: Client,
    account: Account,
  ): Promise<string> {
    expect((await client.post('/password-reset', { json: { email: account.email } })).status).toBe(
      202,
    )
    await server.ctx.tasks.idle()
    const files = outbox(server).sort()
    return tokenFrom(readFileSync(files.at(-1)!, 'utf8'))
  }

  it('mails a link through a real SMTP server; the token sets a new password and ends every session', async () => {
    const smtp = await smtpSink()
    cleanups.push(smtp.close)
    const { server, client } = await start({
      env: { SMTP_URL: smtp.url, RESET_LINK_BASE: 'https://app.example/reset' },
    })
    const account = await signupAndLogin(client)

    const asked = await client.post('/password-reset', { json: { email: account.email } })
    expect(asked.status).toBe(202)
    expect(asked.body).toEqual(ACCEPTED)
    await server.ctx.tasks.idle()
    expect(smtp.messages).toHaveLength(1)
    expect(smtp.messages[0]!.to).toEqual([account.email])
    expect(smtp.messages[0]!.raw.replace(/=\r?\n/g, '')).toContain(
      'https://app.example/reset#token=3D',
    )
    expect(outbox(server)).toEqual([])

    const token = tokenFrom(smtp.messages[0]!.raw)
    const confirmed = await client.post('/password-reset/confirm', {
      json: { token, new_password: NEW_PASSWORD },
    })
    expect(confirmed.status).toBe(204)

    expect((await client.get('/users/me', { token: account.access })).status).toBe(401)
    expect(
      (await client.post('/token/refresh', { json: { refresh_token: account.refresh } })).status,
    ).toBe(401)
    expect(
      (
        await client.post('/login', {
          json: { username: account.username, password: account.password },
        })
      ).status,
    ).toBe(401)
    expect(
      (
        await client.post('/login', {
          json: { username: account.username, password: NEW_PASSWORD },
        })
      ).status,
    ).toBe(200)

    const types = (await server.ctx.db.selectFrom('security_events').select('type').execute()).map(
      (e) => e.type,
    )
    expect(types).toContain('authn_password_reset_requested')
    expect(types).toContain('authn_password_reset')
  })

  it('writes the mail to the outbox as an owner-only .eml file when no SMTP server is set', async () => {
    const { server, client } = await start()
    const account = await signupAndLogin(client)
    const token = await requestToken(server, client, account)
    const [file] = outbox(server)
    expect(file).toMatch(/\.eml$/)
    expect(statSync(file!).mode & 0o777).toBe(0o600)
    expect(readFileSync(file!, 'utf8')).toMatch(new RegExp(`^To: ${account.email}$`, 'm'))
    expect(
      (
        await client.post('/password-reset/confirm', {
          json: { token, new_password: NEW_PASSWORD },
        })
      ).status,
    ).toBe(204)
  })

  it('mails one address at most the hourly cap however many client addresses ask', async () => {
    const { server, client } = await start({
      env: { TRUST_PROXY: '127.0.0.1', RATE_LIMIT_RESET_MAILS_PER_HOUR: '3' },
    })
    const account = await signupAndLogin(client)
    for (let i = 0; i < 6; i++) {
      const asked = await client.post('/password-reset', {
        json: { email: account.email },
        headers: { 'x-forwarded-for': `203.0.113.${i + 1}` },
      })
      expect(asked.status).toBe(202)
      expect(asked.body).toEqual(ACCEPTED)
      await server.ctx.tasks.idle()
    }
    expect(outbox(server)).toHaveLength(3)
  })

  it('issues no token when the address changed between the lookup and the issue (the old mailbox gets nothing)', async () => {
    const { server, client } = await start()
    const account = await signupAndLogin(client)
    const moved = await client.patch(`/users/${account.id}`, {
      token: account.access,
      json: { email: `moved_${account.email}`, current_password: account.password },
    })
    expect(moved.status).toBe(200)
    const to = await replaceResetToken(
      server.ctx.db,
      server.ctx.dialect,
      account.id,
      account.email.toLowerCase(),
      'stale-lookup-hash',
      Date.now(),
      60_000,
    )
    expect(to).toBeUndefined()
    const tokens = await server.ctx.db
      .selectFrom('password_reset_tokens')
      .select('id')
      .where('user_id', '=', account.id)
      .execute()
    expect(tokens).toEqual([])
  })

  it('an email change racing a reset confirm never answers 500', async () => {
    const { server, client } = await start()
    const account = await signupAndLogin(client)
    let password = account.password
    let email = account.email
    for (let round = 0; round < 8; round++) {
      const token = await requestToken(server, client, { ...account, email })
      const next = `Rotated-${round}-Passw0rd!x`
      const nextEmail = `r${round}_${account.email}`
      const login = await client.post('/login', { json: { username: account.username, password } })
      const [confirm, patch] = await Promise.all([
        client.post('/password-reset/confirm', { json: { token, new_password: next } }),
        client.patch(`/users/${account.id}`, {
          token: login.body.access_token,
          json: { email: nextEmail, current_password: password },
        }),
      ])
      expect(confirm.status, confirm.text).not.toBe(500)
      expect(patch.status, patch.text).not.toBe(500)
      if (confirm.status === 204) password = next
      if (patch.status === 200) email = nextEmail
    }
  })

  it('sends nothing for an unknown address and still answers 202 with the same body', async () => {
    const { server, client } = await start()
    const asked = await client.post('/password-reset', { json: { email: 'nobody@example.com' } })
    expect(asked.status).toBe(202)
    expect(asked.body).toEqual(ACCEPTED)
    await server.ctx.tasks.idle()
    expect(outbox(server)).toEqual([])
    const tokens = await server.ctx.db.selectFrom('password_reset_tokens').select('id').execute()
    expect(tokens).toEqual([])
  })

  it('spends a token once: the second use is refused and recorded', async () => {
    const { server, client } = await start()
    const account = await signupAndLogin(client)
    const token = await requestToken(server, client, account)
    expect(
      (
        await client.post('/password-reset/confirm', {
          json: { token, new_password: NEW_PASSWORD },
        })
      ).status,
    ).toBe(204)
    const again = await client.post('/password-reset/confirm', {
      json: { token, new_password: 'Another!Horse-Battery-78' },
    })
    expect(again.status).toBe(400)
    expect(again.body.type).toBe('urn:rampart:problem:reset-invalid-token')
    expect(
      (
        await client.post('/login', {
          json: { username: account.username, password: NEW_PASSWORD },
        })
      ).status,
    ).toBe(200)
    const failures = await server.ctx.db
      .selectFrom('security_events')
      .select('details')
      .where('type', '=', 'authn_password_reset_fail')
      .execute()
    expect(failures.map((f) => (JSON.parse(f.details) as { reason: string }).reason)).toEqual([
      'token already used',
    ])
  })

  it('refuses a token after 30 minutes and leaves the password unchanged', async () => {
    const clock = new ManualClock()
    const { server, client } = await start({ clock })
    const account = await signupAndLogin(client)
    const token = await requestToken(server, client, account)
    clock.advance(30 * 60 * 1000)
    const late = await client.post('/password-reset/confirm', {
      json: { token, new_password: NEW_PASSWORD },
    })
    expect(late.status).toBe(400)
    expect(
      (
        await client.post('/login', {
          json: { username: account.username, password: account.password },
        })
      ).status,
    ).toBe(200)
  })

  it('voids an older token when a newer one is requested', async () => {
    const { server, client } = await start()
    const account = await signupAndLogin(client)
    const first = await requestToken(server, client, account)
    const second = await requestToken(server, client, account)
    expect(second).not.toBe(first)
    expect(
      (
        await client.post('/password-reset/confirm', {
          json: { token: first, new_password: NEW_PASSWORD },
        })
      ).status,
    ).toBe(400)
    expect(
      (
        await client.post('/password-reset/confirm', {
          json: { token: second, new_password: NEW_PASSWORD },
        })
      ).status,
    ).toBe(204)
  })

  it('applies the password policy and keeps the token usable after a refused password', async () => {
    const { server, client } = await start()
    const account = await signupAndLogin(client)
    const token = await requestToken(server, client, account)
    const weak = await client.post('/password-reset/confirm', {
      json: { token, new_password: 'password1234' },
    })
    expect(weak.status).toBe(422)
    expect(weak.body.errors[0].field).toBe('new_password')
    expect((await client.get('/users/me', { token: account.access })).status).toBe(200)
    expect(
      (
        await client.post('/password-reset/confirm', {
          json: { token, new_password: NEW_PASSWORD },
        })
      ).status,
    ).toBe(204)
  })

  it('answers 422 for missing or malformed fields and changes nothing', async () => {
    const { server, client } = await start()
    expect((await client.post('/password-reset', { json: {} })).status).toBe(422)
    expect(
      (await client.post('/password-reset', { json: { email: 'not-an-address' } })).status,
    ).toBe(422)
    expect(
      (await client.post('/password-reset', { json: { email: 'a@example.com', extra: 1 } })).status,
    ).toBe(422)
    const bad = await client.post('/password-reset/confirm', { json: { token: 'abc' } })
    expect(bad.status).toBe(422)
    expect(bad.body.errors).toEqual([{ field: 'new_password', message: 'is required' }])
    await server.ctx.tasks.idle()
    expect(outbox(server)).toEqual([])
  })

  it('never writes the reset token to the log', async () => {
    const lines: string[] = []
    const { default: pino } = await import('pino')
    const logger = pino({ level: 'trace' }, { write: (line: string) => void lines.push(line) })
    const { server, client } = await start({ deps: { logger } })
    const account = await signupAndLogin(client)
    const token = await requestToken(server, client, account)
    await client.post('/password-reset/confirm', { json: { token, new_password: NEW_PASSWORD } })
    expect(lines.length).toBeGreaterThan(0)
    expect(lines.join('\n')).not.toContain(token)
  })
})
