import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Client, signupAndLogin, type Account } from '../helpers/client.js'
import { startTestServer, type TestServer } from '../helpers/server.js'

// PostgreSQL text cannot hold NUL; such input once reached the database and answered 500.
describe('NUL characters in input', () => {
  let server: TestServer
  let client: Client
  let alice: Account
  beforeAll(async () => {
    server = await startTestServer()
    client = new Client(server.url)
    alice = await signupAndLogin(client, 'nul')
  })
  afterAll(() => server.close())

  it('are refused with 422 naming the field, on every kind of input, never a 500', async () => {
    const replies = [
      await client.post('/login', { json: { username: 'boss\u0000', password: 'x' } }),
      await client.post('/token', { form: { username: 'bo\u0000ss', password: 'x' } }),
      await client.post('/documents', {
        token: alice.access,
        json: { title: 'a\u0000b', content: 'c' },
      }),
      await client.post('/documents', {
        token: alice.access,
        json: { title: 'a', content: 'c\u0000' },
      }),
      await client.get('/users/search?q=a%00', { token: alice.access }),
      await client.post('/users', {
        json: { username: 'nulname', email: 'nul@example.com', password: 'Xq7!vLp2#Rz-\u0000-mW9' },
      }),
    ]
    for (const reply of replies) {
      expect(reply.status, reply.text).toBe(422)
      expect(reply.body.errors[0].message).toBe('must not contain NUL characters')
    }
    expect(replies[2]!.body.errors).toEqual([
      { field: 'title', message: 'must not contain NUL characters' },
    ])
    const documents = await server.ctx.db
      .selectFrom('documents')
      .select('id')
      .where('owner_id', '=', alice.id)
      .execute()
    expect(documents).toEqual([])
  })
})
