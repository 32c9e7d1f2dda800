/**
 * Where limit counters live: one rate-limiter-flexible store chosen at startup. Redis when
 * configured (every instance shares it), else the application database: SQLite by default, so
 * limits survive a restart, or PostgreSQL. Counters never live in process memory, so a million
 * distinct keys cost rows or Redis keys, not heap. The library's in-memory block cache and
 * insurance limiter are deliberately left off: both are per-process maps and the insurance
 * limiter would fail open.
 */
import SQLite from 'better-sqlite3'
import type { Redis } from 'ioredis'
import {
  RateLimiterPostgres,
  RateLimiterRedis,
  RateLimiterSQLite,
  type RateLimiterAbstract,
} from 'rate-limiter-flexible'
import { createPrivateFile, type RawDatabase } from '../db/database.js'
import { BoundedLru } from './lru.js'

export type LimiterBackend = RawDatabase | { readonly kind: 'redis'; readonly client: Redis }

/** The layout the library expects; made by migration 002 on PostgreSQL, here on SQLite. */
const TABLE = 'rate_limits'

/**
 * On SQLite the counters get a file of their own beside the database (rampart.db ->
 * rampart-limits.db), opened with synchronous=NORMAL: the application database syncs every
 * commit to disk, and paying that on every request of the global ceiling cut authenticated
 * throughput to a fraction. In WAL mode NORMAL still survives a process crash or restart; an
 * OS crash may lose the last moments of counts, which is acceptable for counters but not for
 * accounts. A separate file also keeps limiter writes out of the application's transactions.
 */
export function openSqliteLimits(databaseFile: string): RawDatabase {
  const file =
    databaseFile === ':memory:' || databaseFile === ''
      ? ':memory:'
      : databaseFile.replace(/(\.[^./]*)?$/, '-limits$1')
  if (file !== ':memory:') createPrivateFile(file)
  const database = new SQLite(file)
  database.pragma('journal_mode = WAL')
  database.pragma('synchronous = NORMAL')
  database.pragma('busy_timeout = 5000')
  database.exec(
    `create table if not exists ${TABLE} (key text primary key, points integer not null default 0, expire integer)`,
  )
  database.exec(`create index if not exists ${TABLE}_expire_idx on ${TABLE} (expire)`)
  return { kind: 'sqlite', database }
}

export interface CounterSpec {
  /** Distinguishes this counter's keys from every other counter's. */
  readonly name: string
  readonly points: number
  readonly durationSeconds: number
}

export type LimiterFactory = (spec: CounterSpec) => RateLimiterAbstract

/** A factory for counters on one backend; every key starts with prefix. */
export function limiterFactory(backend: LimiterBackend, prefix: string): LimiterFactory {
  let sweeper = true
  return (spec) => {
    const common = {
      keyPrefix: `${prefix}${spec.name}`,
      points: spec.points,
      duration: spec.durationSeconds,
    }
    // One counter per table deletes expired rows every few minutes; one is enough for all.
    const clearExpiredByTimeout = sweeper
    sweeper = false
    switch (backend.kind) {
      case 'redis':
        // Not ready means refused at once, never queued until Redis comes back.
        return new RateLimiterRedis({
          ...common,
          storeClient: backend.client,
          rejectIfRedisNotReady: true,
        })
      case 'sqlite':
        return new RateLimiterSQLite({
          ...common,
          storeClient: preparedOnce(backend.database),
          storeType: 'better-sqlite3',
          tableName: TABLE,
          tableCreated: true,
          clearExpiredByTimeout,
        })
      case 'postgres':
        return new RateLimiterPostgres({
          ...common,
          storeClient: backend.pool,
          storeType: 'pool',
          tableName: TABLE,
          tableCreated: true,
          clearExpiredByTimeout,
        })
    }
  }
}

/**
 * The library prepares its SQL anew and wraps it in a transaction on every call; with the
 * global ceiling that ran on every request and cost several times the write itself. Its
 * statements come from a handful of fixed texts, so they are prepared once (bounded cache), and
 * each is a single INSERT ... ON CONFLICT ... RETURNING, atomic in SQLite without a wrapper.
 */
function preparedOnce(database: SQLite.Database): {
  prepare(text: string): SQLite.Statement
  transaction<F>(fn: F): F
} {
  const statements = new BoundedLru<string, SQLite.Statement>(32)
  return {
    prepare(text: string) {
      let statement = statements.get(text)
      if (statement === undefined) {
        statement = database.prepare(text)
        statements.set(text, statement)
      }
      return statement
    },
    transaction: (fn) => fn,
  }
}

/** True when Redis answers PING within timeoutMs (readiness). */
export async function pingRedis(client: Redis, timeoutMs = 1000): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs)
  })
  try {
    return await Promise.race([client.ping().then(() => true), timeout])
  } catch {
    return false
  } finally {
    clearTimeout(timer)
  }
}
