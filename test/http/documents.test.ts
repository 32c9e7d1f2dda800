import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Client, accountWithRoles, signupAndLogin, type Account } from '../helpers/client.js'
import { roleSetter, startTestServer, type TestServer } from '../helpers/server.js'

const MISSING = '00000000-0000-4000-8000-000000000000'

describe('documents and shares', () => {
  let server: TestServer
  let client: Client
  let owner: Account
  let reader: Account
  let writer: Account
  let stranger: Account
  let viewer: Account
  beforeAll(async () => {
    server = await startTestServer()
    client = new Client(server.url)
    owner = await signupAndLogin(client, 'owner')
    reader = await signupAndLogin(client, 'reader')
    writer = await signupAndLogin(client, 'writer')
    stranger = await signupAndLogin(client, 'stranger')
    viewer = await accountWithRoles(client, roleSetter(server), ['viewer'], 'viewer')
  })
  afterAll(() => server.close())

  async function sharedDocument(title = 'Plan') {
    const created = await client.post('/documents', {
      token: owner.access,
      json: { title, content: 'secret plan' },
    })
    expect(created.status).toBe(201)
    const id: string = created.body.id
    for (const [user, permission] of [
      [reader, 'read'],
      [writer, 'write'],
      [viewer, 'write'],
    ] as const) {
      const share = await client.put(`/documents/${id}/shares/${user.id}`, {
        token: owner.access,
        json: { permission },
      })
      expect(share.status, share.text).toBe(200)
    }
    return id
  }

  const rawDoc = (id: string) =>
    server.ctx.db.selectFrom('documents').selectAll().where('id', '=', id).executeTakeFirst()
  const rawShares = (id: string) =>
    server.ctx.db
      .selectFrom('document_shares')
      .selectAll()
      .where('document_id', '=', id)
      .orderBy('user_id')
      .execute()

  it('the owner creates a document and reads it with permission owner', async () => {
    const created = await client.post('/documents', {
      token: owner.access,
      json: { title: 'Mine', content: 'hello' },
    })
    expect(created.status).toBe(201)
    expect(created.body).toMatchObject({
      owner_id: owner.id,
      title: 'Mine',
      content: 'hello',
      permission: 'owner',
    })
    const read = await client.get(`/documents/${created.body.id}`, { token: owner.access })
    expect(read.status).toBe(200)
    expect(read.body.permission).toBe('owner')
    expect(read.headers.get('cache-control')).toBe('no-store')
  })

  it('each share holder sees their own permission', async () => {
    const id = await sharedDocument()
    expect((await client.get(`/documents/${id}`, { token: reader.access })).body.permission).toBe(
      'read',
    )
    expect((await client.get(`/documents/${id}`, { token: writer.access })).body.permission).toBe(
      'write',
    )
    expect((await client.get(`/documents/${id}`, { token: viewer.access })).body.permission).toBe(
      'write',
    )
  })

  it('a stranger gets a 404 identical to a nonexistent id', async () => {
    const id = await sharedDocument()
    const hidden = await client.get(`/documents/${id}`, { token: stranger.access })
    const absent = await client.get(`/documents/${MISSING}`, { token: stranger.access })
    expect(hidden.status).toBe(404)
    expect(absent.status).toBe(404)
    expect({ ...hidden.body, instance: null }).toEqual({ ...absent.body, instance: null })
    expect(hidden.text).not.toContain('secret plan')
  })

  it('a read share cannot PATCH (403) and the document is unchanged', async () => {
    const id = await sharedDocument()
    const before = await rawDoc(id)
    const reply = await client.patch(`/documents/${id}`, {
      token: reader.access,
      json: { content: 'defaced' },
    })
    expect(reply.status).toBe(403)
    expect(await rawDoc(id)).toEqual(before)
  })

  it('a write share can PATCH but not DELETE or share', async () => {
    const id = await sharedDocument()
    const patched = await client.patch(`/documents/${id}`, {
      token: writer.access,
      json: { content: 'edited' },
    })
    expect(patched.status).toBe(200)
    expect(patched.body).toMatchObject({
      content: 'edited',
      permission: 'write',
      owner_id: owner.id,
    })
    expect((await rawDoc(id))?.content).toBe('edited')

    expect((await client.delete(`/documents/${id}`, { token: writer.access })).status).toBe(403)
    expect(await rawDoc(id)).toBeDefined()
    const sharesBefore = await rawShares(id)
    expect(
      (
        await client.put(`/documents/${id}/shares/${stranger.id}`, {
          token: writer.access,
          json: { permission: 'write' },
        })
      ).status,
    ).toBe(403)
    expect(
      (
        await client.put(`/documents/${id}/shares/${writer.id}`, {
          token: writer.access,
          json: { permission: 'read' },
        })
      ).status,
    ).toBe(403)
    expect(
      (await client.delete(`/documents/${id}/shares/${reader.id}`, { token: writer.access }))
        .status,
    ).toBe(403)
    expect(await rawShares(id)).toEqual(sharesBefore)
  })

  it('a viewer cannot create, PATCH or DELETE documents, even with a write share', async () => {
    const id = await sharedDocument()
    const before = await rawDoc(id)
    expect(
      (
        await client.post('/documents', {
          token: viewer.access,
          json: { title: 't', content: 'c' },
        })
      ).status,
    ).toBe(403)
    expect(
      (
        await client.patch(`/documents/${id}`, {
          token: viewer.access,
          json: { content: 'viewer wrote' },
        })
      ).status,
    ).toBe(403)
    expect((await client.delete(`/documents/${id}`, { token: viewer.access })).status).toBe(403)
    expect(
      (
        await client.put(`/documents/${id}/shares/${stranger.id}`, {
          token: viewer.access,
          json: { permission: 'read' },
        })
      ).status,
    ).toBe(403)
    expect(await rawDoc(id)).toEqual(before)
    const owned = await server.ctx.db
      .selectFrom('documents')
      .select('id')
      .where('owner_id', '=', viewer.id)
      .execute()
    expect(owned).toEqual([])
  })

  it('a stranger gets 404 on every document route and changes nothing (IDOR)', async () => {
    const id = await sharedDocument()
    const before = await rawDoc(id)
    const sharesBefore = await rawShares(id)
    const attempts = [
      client.get(`/documents/${id}`, { token: stranger.access }),
      client.patch(`/documents/${id}`, { token: stranger.access, json: { title: 'pwned' } }),
      client.delete(`/documents/${id}`, { token: stranger.access }),
      client.put(`/documents/${id}/shares/${stranger.id}`, {
        token: stranger.access,
        json: { permission: 'write' },
      }),
      client.delete(`/documents/${id}/shares/${reader.id}`, { token: stranger.access }),
    ]
    for (const reply of await Promise.all(attempts)) expect(reply.status).toBe(404)
    expect(await rawDoc(id)).toEqual(before)
    expect(await rawShares(id)).toEqual(sharesBefore)
  })

  it('the owner deletes the document and its shares go with it', async () => {
    const id = await sharedDocument()
    expect((await client.delete(`/documents/${id}`, { token: owner.access })).status).toBe(204)
    expect(await rawDoc(id)).toBeUndefined()
    expect(await rawShares(id)).toEqual([])
    expect((await client.get(`/documents/${id}`, { token: reader.access })).status).toBe(404)
  })

  it('share changes take effect: upgrade, downgrade and removal', async () => {
    const id = await sharedDocument()
    const up = await client.put(`/documents/${id}/shares/${reader.id}`, {
      token: owner.access,
      json: { permission: 'write' },
    })
    expect(up.status).toBe(200)
    expect(up.body).toMatchObject({ document_id: id, user_id: reader.id, permission: 'write' })
    expect(
      (
        await client.patch(`/documents/${id}`, {
          token: reader.access,
          json: { title: 'by reader' },
        })
      ).status,
    ).toBe(200)
    expect(
      (await client.delete(`/documents/${id}/shares/${reader.id}`, { token: owner.access })).status,
    ).toBe(204)
    expect((await client.get(`/documents/${id}`, { token: reader.access })).status).toBe(404)
    expect(
      (await client.delete(`/documents/${id}/shares/${reader.id}`, { token: owner.access })).status,
    ).toBe(404)
  })

  it('sharing with the owner, an unknown user or a bad permission is refused', async () => {
    const id = await sharedDocument()
    const sharesBefore = await rawShares(id)
    expect(
      (
        await client.put(`/documents/${id}/shares/${owner.id}`, {
          token: owner.access,
          json: { permission: 'read' },
        })
      ).status,
    ).toBe(422)
    expect(
      (
        await client.put(`/documents/${id}/shares/${MISSING}`, {
          token: owner.access,
          json: { permission: 'read' },
        })
      ).status,
    ).toBe(404)
    for (const body of [
      { permission: 'owner' },
      { permission: 'admin' },
      {},
      { permission: 'read', extra: 1 },
      ['read'],
    ]) {
      expect(
        (
          await client.put(`/documents/${id}/shares/${stranger.id}`, {
            token: owner.access,
            json: body,
          })
        ).status,
      ).toBe(422)
    }
    expect(
      (
        await client.put(`/documents/${id}/shares/not-a-uuid`, {
          token: owner.access,
          json: { permission: 'read' },
        })
      ).status,
    ).toBe(422)
    expect(await rawShares(id)).toEqual(sharesBefore)
  })

  it('lists own and shared documents only, paginated, each once', async () => {
    const lister = await signupAndLogin(client, 'lister')
    const mine: string[] = []
    for (let i = 0; i < 4; i++) {
      mine.push(
        (
          await client.post('/documents', {
            token: lister.access,
            json: { title: `own ${i}`, content: '' },
          })
        ).body.id,
      )
    }
    const shared = (
      await client.post('/documents', {
        token: owner.access,
        json: { title: 'for lister', content: 'x' },
      })
    ).body.id
    await client.put(`/documents/${shared}/shares/${lister.id}`, {
      token: owner.access,
      json: { permission: 'read' },
    })
    const unrelated = (
      await client.post('/documents', {
        token: owner.access,
        json: { title: 'not for lister', content: 'x' },
      })
    ).body.id

    const seen: { id: string; permission: string }[] = []
    let cursor: string | null = null
    for (let pages = 0; pages < 20; pages++) {
      const query: string = cursor === null ? '' : `&cursor=${cursor}`
      const reply = await client.get(`/documents?limit=2${query}`, { token: lister.access })
      expect(reply.status).toBe(200)
      expect(reply.body.items.length).toBeLessThanOrEqual(2)
      seen.push(...reply.body.items)
      cursor = reply.body.next_cursor
      if (cursor === null) break
    }
    expect(seen.map((d) => d.id).sort()).toEqual([...mine, shared].sort())
    expect(seen.find((d) => d.id === shared)?.permission).toBe('read')
    expect(seen.map((d) => d.id)).not.toContain(unrelated)
    expect((await client.get('/documents?limit=0', { token: lister.access })).status).toBe(422)
    expect((await client.get('/documents?limit=101', { token: lister.access })).status).toBe(422)
    expect((await client.get('/documents?cursor=bogus', { token: lister.access })).status).toBe(422)
  })

  it('content up to 1 MiB is accepted; beyond is 413 or 422 and nothing is stored', async () => {
    const exact = 'a'.repeat(1024 * 1024)
    const ok = await client.post('/documents', {
      token: owner.access,
      json: { title: 'big', content: exact },
    })
    expect(ok.status).toBe(201)
    const countBefore = (
      await server.ctx.db
        .selectFrom('documents')
        .select('id')
        .where('owner_id', '=', owner.id)
        .execute()
    ).length
    const over = await client.post('/documents', {
      token: owner.access,
      json: { title: 'bigger', content: `${exact}a` },
    })
    expect([413, 422]).toContain(over.status)
    // Multi-byte characters: under 1 Mi characters but over 1 MiB of UTF-8.
    const wide = await client.post('/documents', {
      token: owner.access,
      json: { title: 'wide', content: '\u00e9'.repeat(600 * 1024) },
    })
    expect([413, 422]).toContain(wide.status)
    const huge = await client.post('/documents', {
      token: owner.access,
      json: { title: 'huge', content: 'a'.repeat(3 * 1024 * 1024) },
    })
    expect(huge.status).toBe(413)
    const patch = await client.patch(`/documents/${ok.body.id}`, {
      token: owner.access,
      json: { content: `${exact}b` },
    })
    expect([413, 422]).toContain(patch.status)
    expect((await rawDoc(ok.body.id))?.content).toBe(exact)
    expect(
      (
        await server.ctx.db
          .selectFrom('documents')
          .select('id')
          .where('owner_id', '=', owner.id)
          .execute()
      ).length,
    ).toBe(countBefore)
  })

  it.each([
    ['an empty title', { title: '', content: 'x' }],
    ['a 201-character title', { title: 't'.repeat(201), content: 'x' }],
    ['a missing content', { title: 't' }],
    ['a numeric title', { title: 5, content: 'x' }],
    ['an owner_id', { title: 't', content: 'x', owner_id: MISSING }],
    ['an array body', [{ title: 't', content: 'x' }]],
  ])('creating with %s is 422', async (_label, body) => {
    const reply = await client.post('/documents', { token: owner.access, json: body })
    expect(reply.status).toBe(422)
    expect(reply.headers.get('content-type')).toMatch(/problem\+json/)
  })

  it('a PATCH cannot change owner_id or id, and an empty PATCH is 422', async () => {
    const id = await sharedDocument()
    const before = await rawDoc(id)
    for (const body of [
      { owner_id: writer.id },
      { id: MISSING },
      {},
      { title: 't', permission: 'owner' },
    ]) {
      expect(
        (await client.patch(`/documents/${id}`, { token: owner.access, json: body })).status,
      ).toBe(422)
    }
    expect(await rawDoc(id)).toEqual(before)
  })
})
