import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Client, signupAndLogin } from '../helpers/client.js'
import { startTestServer, type TestServer } from '../helpers/server.js'

describe('a running server', () => {
  let server: TestServer
  let client: Client
  beforeAll(async () => {
    server = await startTestServer()
    client = new Client(server.url)
  })
  afterAll(() => server.close())

  it('answers health with status ok', async () => {
    const reply = await client.get('/health')
    expect(reply.status).toBe(200)
    expect(reply.body).toEqual({ status: 'ok' })
  })

  it('signs a user up, logs in and reads the own record', async () => {
    const account = await signupAndLogin(client)
    const me = await client.get('/users/me', { token: account.access })
    expect(me.status).toBe(200)
    expect(me.body.username).toBe(account.username)
  })
})
