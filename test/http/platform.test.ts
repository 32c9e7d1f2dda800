import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildApp } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { openDatabase } from '../../src/db/database.js'
import { migrateToLatest } from '../../src/db/migrate.js'
import { PUBLIC, role } from '../../src/security/access.js'
import { Client, accountWithRoles, signupAndLogin } from '../helpers/client.js'
import {
  freshDatabaseUrl,
  roleSetter,
  startTestServer,
  testSecretEnv,
  type TestServer,
} from '../helpers/server.js'

describe('deny by default', () => {
  async function appWith(register: (app: Awaited<ReturnType<typeof buildApp>>['app']) => void) {
    const dataDir = mkdtempSync(join(tmpdir(), 'rampart-policy-'))
    const database = await freshDatabaseUrl(dataDir)
    const config = loadConfig({
      NODE_ENV: 'test',
      DATA_DIR: dataDir,
      DATABASE_URL: database.url,
      ...testSecretEnv(),
    })
    const handle = openDatabase(config.databaseUrl)
    await migrateToLatest(handle.db, handle.dialect)
    const { app } = await buildApp(config, { database: handle })
    register(app)
    return {
      app,
      async dispose() {
        await app.close().catch(() => undefined)
        await handle.close()
        await database.drop()
        rmSync(dataDir, { recursive: true, force: true })
      },
    }
  }

  it('refuses to start when a route declares no policy', async () => {
    const built = await appWith((app) => app.get('/forgotten', () => ({ leaked: true })))
    try {
      await expect(built.app.ready()).rejects.toThrow(/GET \/forgotten declares no access policy/)
    } finally {
      await built.dispose()
    }
  })

  it('refuses a route whose policy is malformed', async () => {
    const built = await appWith((app) =>
      app.get('/odd', { config: { policy: { role: 'superuser' } as never } }, () => ({})),
    )
    try {
      await expect(built.app.ready()).rejects.toThrow(/declares no access policy/)
    } finally {
      await built.dispose()
    }
  })

  it('refuses a route without a policy inside a plugin', async () => {
    const built = await appWith(
      (app) => void app.register(async (child) => void child.post('/inner', () => ({}))),
    )
    try {
      await expect(built.app.ready()).rejects.toThrow(/POST \/inner declares no access policy/)
    } finally {
      await built.dispose()
    }
  })

  it('starts when every route declares a policy', async () => {
    const built = await appWith((app) => {
      app.get('/open', { config: { policy: PUBLIC } }, () => ({ ok: true }))
      app.get('/closed', { config: { policy: role('admin') } }, () => ({ ok: true }))
    })
    try {
      await built.app.ready()
      expect((await built.app.inject({ method: 'GET', url: '/open' })).statusCode).toBe(200)
      expect((await built.app.inject({ method: 'GET', url: '/closed' })).statusCode).toBe(401)
    } finally {
      await built.dispose()
    }
  })
})

describe('roles', () => {
  let server: TestServer
  let client: Client
  beforeAll(async () => {
    server = await startTestServer()
    client = new Client(server.url)
  })
  afterAll(() => server.close())

  it('admin-only routes answer 403 to a user and a viewer, 200 to an admin', async () => {
    const user = await signupAndLogin(client, 'plain')
    const viewer = await accountWithRoles(client, roleSetter(server), ['viewer'], 'look')
    const admin = await accountWithRoles(client, roleSetter(server), ['admin'], 'chief')
    for (const path of [
      '/admin/users',
      '/admin/security-events',
      '/admin/security-events/verify',
    ]) {
      expect((await client.get(path, { token: user.access })).status, path).toBe(403)
      expect((await client.get(path, { token: viewer.access })).status, path).toBe(403)
      expect((await client.get(path, { token: admin.access })).status, path).toBe(200)
    }
  })

  it('an admin passes user and viewer routes (admin includes user includes viewer)', async () => {
    const admin = await accountWithRoles(client, roleSetter(server), ['admin'], 'super')
    expect(
      (await client.post('/documents', { token: admin.access, json: { title: 't', content: 'c' } }))
        .status,
    ).toBe(201)
    expect((await client.get('/users/search?q=abc', { token: admin.access })).status).toBe(200)
    expect((await client.get('/documents', { token: admin.access })).status).toBe(200)
  })

  it('a viewer reads but cannot write', async () => {
    const viewer = await accountWithRoles(client, roleSetter(server), ['viewer'], 'ro')
    expect((await client.get('/documents', { token: viewer.access })).status).toBe(200)
    expect((await client.get('/users/me', { token: viewer.access })).status).toBe(200)
    expect(
      (
        await client.post('/documents', {
          token: viewer.access,
          json: { title: 't', content: 'c' },
        })
      ).status,
    ).toBe(403)
  })

  it('unknown roles stored in the database grant nothing', async () => {
    const odd = await accountWithRoles(client, roleSetter(server), ['superadmin', 'root'], 'odd')
    expect((await client.get('/users/me', { token: odd.access })).status).toBe(403)
    expect((await client.get('/admin/users', { token: odd.access })).status).toBe(403)
  })
})

describe('health, readiness and docs', () => {
  it('/health is 200 ok; /ready is 200 while the database answers and 503 once it is gone', async () => {
    const server = await startTestServer()
    const client = new Client(server.url)
    try {
      expect((await client.get('/health')).body).toEqual({ status: 'ok' })
      const ready = await client.get('/ready')
      expect(ready.status).toBe(200)
      await server.ctx.db.destroy()
      const gone = await client.get('/ready')
      expect(gone.status).toBe(503)
      expect(gone.text).not.toMatch(/sqlite|postgres|kysely|driver/i)
      expect((await client.get('/health')).status).toBe(200)
    } finally {
      await server.close().catch(() => undefined)
    }
  })

  it('/openapi.json is OpenAPI 3.1 and lists every route; /docs answers in development', async () => {
    const server = await startTestServer()
    const client = new Client(server.url)
    try {
      const reply = await client.get('/openapi.json')
      expect(reply.status).toBe(200)
      expect(reply.body.openapi).toMatch(/^3\.1/)
      const listed = Object.entries(
        reply.body.paths as Record<string, Record<string, unknown>>,
      ).flatMap(([path, ops]) =>
        Object.keys(ops).map((method) => `${method.toUpperCase()} ${path}`),
      )
      const expected = [
        'POST /users',
        'GET /users/me',
        'GET /users/{id}',
        'PATCH /users/{id}',
        'GET /users/search',
        'GET /admin/users',
        'POST /token',
        'POST /login',
        'POST /token/refresh',
        'POST /logout',
        'POST /logout/all',
        'POST /documents',
        'GET /documents',
        'GET /documents/{id}',
        'PATCH /documents/{id}',
        'DELETE /documents/{id}',
        'PUT /documents/{id}/shares/{user_id}',
        'DELETE /documents/{id}/shares/{user_id}',
        'GET /admin/security-events',
        'GET /admin/security-events/verify',
        'GET /health',
        'GET /ready',
      ]
      for (const route of expected) expect(listed, route).toContain(route)
      const docs = await client.get('/docs')
      expect([200, 302]).toContain(docs.status)
      const page = await client.get('/docs/')
      expect([200, 302]).toContain(page.status)
    } finally {
      await server.close()
    }
  })

  it('in production /openapi.json and /docs refuse anonymous callers and open to an admin', async () => {
    const server = await startTestServer({
      env: { NODE_ENV: 'production', TRUST_PROXY: '127.0.0.1' },
    })
    const client = new Client(server.url)
    try {
      for (const path of ['/openapi.json', '/docs', '/docs/', '/docs/json']) {
        const reply = await client.get(path)
        expect([401, 403], path).toContain(reply.status)
      }
      const user = await signupAndLogin(client, 'prod')
      expect((await client.get('/openapi.json', { token: user.access })).status).toBe(403)
      const admin = await accountWithRoles(client, roleSetter(server), ['admin'], 'prodadm')
      expect((await client.get('/openapi.json', { token: admin.access })).status).toBe(200)
    } finally {
      await server.close()
    }
  })
})
