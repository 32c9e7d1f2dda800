import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { sql } from 'kysely'
import { afterAll, describe, expect, it } from 'vitest'
import { openDatabase } from '../../src/db/database.js'
import { migrateToLatest } from '../../src/db/migrate.js'
import { PG_URL } from '../helpers/server.js'

/** PostgreSQL databases shared with other schemas (other apps, other Rampart instances). */
describe('PostgreSQL schema isolation', () => {
  const schemas: string[] = []
  async function admin(query: string): Promise<void> {
    const client = new pg.Client({ connectionString: PG_URL })
    await client.connect()
    try {
      await client.query(query)
    } finally {
      await client.end()
    }
  }
  async function newSchema(): Promise<string> {
    const name = `u_${randomBytes(6).toString('hex')}`
    await admin(`create schema ${name}`)
    schemas.push(name)
    return name
  }
  afterAll(async () => {
    for (const name of schemas) await admin(`drop schema if exists ${name} cascade`)
  })

  it('migrates its own schema even when another schema already has migration tables', async () => {
    const neighbour = await newSchema()
    await admin(
      `create table ${neighbour}.kysely_migration (name varchar(255) primary key, timestamp varchar(255) not null)`,
    )
    await admin(
      `create table ${neighbour}.kysely_migration_lock (id varchar(255) primary key, is_locked integer not null default 0)`,
    )
    await admin(`insert into ${neighbour}.kysely_migration values ('001-foundation', '2020-01-01')`)

    const mine = await newSchema()
    const database = openDatabase(`${PG_URL}?schema=${mine}`)
    try {
      expect(await migrateToLatest(database.db, database.dialect)).toContain('001-foundation')
      const tables = await sql<{
        n: string
      }>`select count(*)::text as n from information_schema.tables where table_schema = ${mine} and table_name = 'users'`.execute(
        database.db,
      )
      expect(tables.rows[0]?.n).toBe('1')
      expect(await migrateToLatest(database.db, database.dialect)).toEqual([])
    } finally {
      await database.close()
    }
  })

  it('every pooled connection works in the configured schema from its first query', async () => {
    const mine = await newSchema()
    const database = openDatabase(`${PG_URL}?schema=${mine}`)
    try {
      const rows = await Promise.all(
        Array.from({ length: 10 }, () =>
          sql<{ s: string }>`select current_schema() as s`.execute(database.db),
        ),
      )
      for (const result of rows) expect(result.rows[0]?.s).toBe(mine)
    } finally {
      await database.close()
    }
  })

  it('survives the server ending an idle pooled connection, and reconnects', async () => {
    const mine = await newSchema()
    const database = openDatabase(`${PG_URL}?schema=${mine}`)
    const uncaught: unknown[] = []
    const onUncaught = (error: unknown) => void uncaught.push(error)
    process.on('uncaughtException', onUncaught)
    try {
      const pid = (await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(database.db))
        .rows[0]?.pid
      expect(pid).toBeTypeOf('number')
      const killer = new pg.Client({ connectionString: PG_URL })
      await killer.connect()
      await killer.query('select pg_terminate_backend($1)', [pid])
      // Wait until the server reports the backend gone, so the pool has seen the socket close.
      for (let i = 0; i < 100; i++) {
        const left = await killer.query('select 1 from pg_stat_activity where pid = $1', [pid])
        if (left.rowCount === 0) break
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
      await killer.end()
      await new Promise((resolve) => setTimeout(resolve, 50))
      expect(uncaught).toEqual([])
      expect(await database.ping()).toBe(true)
    } finally {
      process.off('uncaughtException', onUncaught)
      await database.close()
    }
  })
})
