/**
 * Starts a real Rampart server on 127.0.0.1:0 over a real database: a fresh SQLite file, or a
 * fresh PostgreSQL schema (RAMPART_TEST_DB=postgres) so concurrent runs never collide.
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import pg from 'pg'
import type { AppDeps } from '../../src/app.js'
import { loadConfig, type Config } from '../../src/config.js'
import type { AppContext } from '../../src/context.js'
import { openDatabase } from '../../src/db/database.js'
import { startServices } from '../../src/server.js'
import type { Clock } from '../../src/security/clock.js'

export const PG_URL = process.env.RAMPART_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
export const dbKind = (): 'sqlite' | 'postgres' =>
  process.env.RAMPART_TEST_DB === 'postgres' ? 'postgres' : 'sqlite'

export interface TestServer {
  readonly app: FastifyInstance
  readonly ctx: AppContext
  readonly config: Config
  readonly url: string
  readonly dataDir: string
  close(): Promise<void>
}

export interface TestServerOptions {
  readonly env?: Record<string, string>
  readonly clock?: Clock
  readonly deps?: Partial<AppDeps>
  /** Reuse a database made by freshDatabaseUrl (for restart and multi-instance tests). */
  readonly databaseUrl?: string
}

/** A manual clock for tests where time is the subject. */
export class ManualClock implements Clock {
  constructor(private ms = Date.now()) {}
  now(): number {
    return this.ms
  }
  advance(ms: number): void {
    this.ms += ms
  }
}

/** A new empty database URL of the kind under test, and a function that drops it. */
export async function freshDatabaseUrl(
  dataDir: string,
): Promise<{ url: string; drop: () => Promise<void> }> {
  if (dbKind() === 'sqlite')
    return { url: `sqlite:${join(dataDir, 'test.db')}`, drop: async () => {} }
  const schema = `t_${randomBytes(6).toString('hex')}`
  const client = new pg.Client({ connectionString: PG_URL })
  await client.connect()
  await client.query(`create schema ${schema}`)
  await client.end()
  return {
    url: `${PG_URL}?schema=${schema}`,
    drop: async () => {
      const c = new pg.Client({ connectionString: PG_URL })
      await c.connect()
      await c.query(`drop schema if exists ${schema} cascade`)
      await c.end()
    },
  }
}

export function testSecretEnv(): Record<string, string> {
  return {
    JWT_SECRET: randomBytes(32).toString('base64url'),
    ENCRYPTION_KEYS: `k1:${randomBytes(32).toString('base64')}`,
    WEBHOOK_SECRETS: `whsec_${randomBytes(32).toString('base64url')}`,
  }
}

export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'rampart-test-'))
  const database =
    options.databaseUrl === undefined
      ? await freshDatabaseUrl(dataDir)
      : { url: options.databaseUrl, drop: async () => {} }
  const config = loadConfig({
    NODE_ENV: 'test',
    DATA_DIR: dataDir,
    DATABASE_URL: database.url,
    ...testSecretEnv(),
    // Suites sign many users up from one address; the abuse tests set their own ceilings.
    RATE_LIMIT_SIGNUP_PER_HOUR: '100000',
    RATE_LIMIT_GLOBAL_PER_MINUTE: '1000000',
    ...options.env,
  })
  const { app, ctx } = await startServices(config, {
    database: openDatabase(config.databaseUrl),
    ...(options.clock === undefined ? {} : { clock: options.clock }),
    ...options.deps,
  })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const address = app.server.address()
  if (address === null || typeof address === 'string') throw new Error('no address')
  return {
    app,
    ctx,
    config,
    dataDir,
    url: `http://127.0.0.1:${address.port}`,
    async close() {
      await app.close()
      await database.drop()
      rmSync(dataDir, { recursive: true, force: true })
    },
  }
}

/** Sets a user's roles directly in the database (test setup for admins and viewers). */
export function roleSetter(server: TestServer) {
  return async (userId: string, roles: string[]): Promise<void> => {
    await server.ctx.db
      .updateTable('users')
      .set({ roles: JSON.stringify(roles) })
      .where('id', '=', userId)
      .execute()
  }
}
