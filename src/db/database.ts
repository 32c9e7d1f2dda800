/** Opens the configured database: embedded SQLite by default, PostgreSQL by URL. */
import { closeSync, mkdirSync, openSync } from 'node:fs'
import { dirname } from 'node:path'
import SQLite from 'better-sqlite3'
import { Kysely, PostgresDialect, SqliteDialect, sql, type SqliteDatabase } from 'kysely'
import pg from 'pg'
import { BoundedLru } from '../security/lru.js'
import type { Database, Db, Dialect } from './schema.js'

/** The driver under Kysely, for libraries that speak to it directly (the rate limiter). */
export type RawDatabase =
  | { readonly kind: 'sqlite'; readonly database: SQLite.Database }
  | { readonly kind: 'postgres'; readonly pool: pg.Pool }

export interface DatabaseHandle {
  readonly db: Db
  readonly dialect: Dialect
  readonly raw: RawDatabase
  /** Answers true when the database responds to a trivial query. */
  ping(): Promise<boolean>
  close(): Promise<void>
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/

/** `sqlite:PATH` or `postgres://...` (an optional `?schema=name` selects a search_path). */
export function openDatabase(url: string): DatabaseHandle {
  const handle = url.startsWith('sqlite:') ? openSqlite(url.slice(7)) : openPostgres(url)
  return {
    ...handle,
    async ping() {
      try {
        await sql`select 1`.execute(handle.db)
        return true
      } catch {
        return false
      }
    },
    close: () => handle.db.destroy(),
  }
}

interface Opened {
  db: Db
  dialect: Dialect
  raw: RawDatabase
}

function openSqlite(path: string): Opened {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true, mode: 0o700 })
  if (path !== ':memory:') createPrivateFile(path)
  const database = new SQLite(path)
  // SQLite pragmas: WAL for concurrent readers, FULL sync so a committed write survives a crash.
  database.pragma('journal_mode = WAL')
  database.pragma('synchronous = FULL')
  database.pragma('foreign_keys = ON')
  database.pragma('busy_timeout = 5000')
  const dialect = new SqliteDialect({ database: withStatementCache(database) })
  return {
    db: new Kysely<Database>({ dialect }),
    dialect: 'sqlite',
    raw: { kind: 'sqlite', database },
  }
}

/**
 * Kysely prepares every query anew; preparing is the largest single cost of a read on SQLite.
 * Queries are built from fixed shapes with bound parameters, so their SQL text repeats and the
 * prepared statements can be reused (bounded, least recently used evicted).
 */
function withStatementCache(database: SQLite.Database, max = 512): SqliteDatabase {
  const statements = new BoundedLru<string, SQLite.Statement>(max)
  return {
    close: () => database.close(),
    prepare(text: string) {
      let statement = statements.get(text)
      if (statement === undefined) {
        statement = database.prepare(text)
        statements.set(text, statement)
      }
      return statement
    },
  }
}

/**
 * Creates a database file readable by its owner only (0600) if it does not exist yet; SQLite
 * gives its -wal and -shm files the same permissions. An existing file keeps the mode its
 * operator chose.
 */
export function createPrivateFile(path: string): void {
  closeSync(openSync(path, 'a', 0o600))
}

function openPostgres(url: string): Opened {
  const parsed = new URL(url)
  const schema = parsed.searchParams.get('schema')
  parsed.searchParams.delete('schema')
  if (schema !== null && !SCHEMA_NAME.test(schema))
    throw new Error('invalid schema name in DATABASE_URL')

  // The search_path is a startup parameter of each connection (checked against SCHEMA_NAME
  // above), so no query can run before it is in force and no set-up query can fail unobserved.
  const options = schema === null ? {} : { options: `-c search_path=${schema}` }
  const pool = new pg.Pool({ connectionString: parsed.toString(), max: 10, ...options })
  // An idle connection the server ends (restart, failover, idle timeout) is dropped from the pool
  // and replaced on next use; unobserved, its 'error' event would crash the whole process.
  pool.on('error', () => undefined)
  return {
    db: new Kysely<Database>({ dialect: new PostgresDialect({ pool }) }),
    dialect: 'postgres',
    raw: { kind: 'postgres', pool },
  }
}
