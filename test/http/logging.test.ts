import { Writable } from 'node:stream'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loggerOptions } from '../../src/http/logger.js'
import { Client, newIdentity } from '../helpers/client.js'
import { startTestServer, type TestServer } from '../helpers/server.js'

describe('logs never hold credentials', () => {
  let server: TestServer
  let client: Client
  const lines: string[] = []
  beforeAll(async () => {
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString('utf8'))
        done()
      },
    })
    const logger = pino(loggerOptions('trace') as pino.LoggerOptions, sink)
    server = await startTestServer({ deps: { logger } })
    client = new Client(server.url)
  })
  afterAll(() => server.close())

  it('passwords, access and refresh tokens and Authorization headers stay out of every line', async () => {
    const id = newIdentity('log')
    const secrets: string[] = [id.password]
    expect((await client.post('/users', { json: id })).status).toBe(201)
    const login = await client.post('/login', {
      json: { username: id.username, password: id.password },
    })
    const form = await client.post('/token', {
      form: { username: id.username, password: id.password },
    })
    secrets.push(
      login.body.access_token,
      login.body.refresh_token,
      form.body.access_token,
      form.body.refresh_token,
    )
    const wrongPassword = 'Wr0ng!secret-that-must-not-log'
    secrets.push(wrongPassword)
    await client.post('/login', { json: { username: id.username, password: wrongPassword } })
    await client.post('/login', { json: { username: 'nobody_at_all', password: wrongPassword } })

    const access = login.body.access_token as string
    await client.get('/users/me', { token: access })
    await client.get(`/users/me?access_token=${access}`)
    await client.get('/users/me', {
      headers: {
        authorization: `Basic ${Buffer.from(`${id.username}:${id.password}`).toString('base64')}`,
      },
    })
    const refreshed = await client.post('/token/refresh', {
      json: { refresh_token: login.body.refresh_token },
    })
    secrets.push(refreshed.body.refresh_token, refreshed.body.access_token)
    await client.post('/token/refresh', { json: { refresh_token: login.body.refresh_token } })
    const newPassword = 'N3w!Passw0rd-never-logged'
    secrets.push(newPassword)
    await client.patch(
      `/users/${login.body.access_token === undefined ? '' : (await client.get('/users/me', { token: form.body.access_token })).body.id}`,
      {
        token: form.body.access_token,
        json: { password: newPassword, current_password: id.password },
      },
    )
    await client.post('/login', {
      raw: `{"username":"${id.username}","password":"${newPassword}"`,
      headers: { 'content-type': 'application/json' },
    })

    const output = lines.join('')
    expect(output.length).toBeGreaterThan(0)
    expect(output).toContain('security event')
    for (const secret of secrets) expect(output).not.toContain(secret)
    expect(output).not.toContain(Buffer.from(`${id.username}:${id.password}`).toString('base64'))
    // Every request line carries a request id.
    const requestLines = lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.req !== undefined || l.res !== undefined)
    expect(requestLines.length).toBeGreaterThan(0)
    for (const line of requestLines) expect(line.reqId).toEqual(expect.any(String))
  })
})
