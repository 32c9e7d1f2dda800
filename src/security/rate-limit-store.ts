/**
 * Where limit counters live: one rate-limiter-flexible store chosen at startup. Redis when
 * configured (every instance shares it), else the application database: SQLite by default, so
 * limits survive a restart, or PostgreSQL. Counters never live in process memory, so a million
 * distinct keys cost rows or Redis keys, not heap. The library's in-memory block cache and
 * insurance limiter are deliberately left off: both are per-process maps and the insurance
 * limiter would fail open.
 */
import type { Redis } from 'ioredis'
import {
  RateLimiterPostgres,
  RateLimiterRedis,
  RateLimiterSQLite,
  type RateLimiterAbstract,
} from 'rate-limiter-flexible'
import type { RawDatabase } from '../db/database.js'

export type LimiterBackend = RawDatabase | { readonly kind: 'redis'; readonly client: Redis }

/** Made by migration 002 with the layout the library expects. */
const TABLE = 'rate_limits'

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
    const common = { keyPrefix: `${prefix}${spec.name}`, points: spec.points, duration: spec.durationSeconds }
    // One counter per table deletes expired rows every few minutes; one is enough for all.
    const clearExpiredByTimeout = sweeper
    sweeper = false
    switch (backend.kind) {
      case 'redis':
        // Not ready means refused at once, never queued until Redis comes back.
        return new RateLimiterRedis({ ...common, storeClient: backend.client, rejectIfRedisNotReady: true })
      case 'sqlite':
        return new RateLimiterSQLite({
          ...common, storeClient: backend.database, storeType: 'better-sqlite3', tableName: TABLE, tableCreated: true,
          clearExpiredByTimeout,
        })
      case 'postgres':
        return new RateLimiterPostgres({
          ...common, storeClient: backend.pool, storeType: 'pool', tableName: TABLE, tableCreated: true,
          clearExpiredByTimeout,
        })
    }
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
