/**
 * Rate limits: fixed windows and lock deadlines over one rate-limiter-flexible store.
 *
 * Time comes from the injected Clock, never from the store. A window's number (now divided by
 * its length) is part of the counter's key and a lock's deadline is the counter's value, so
 * moving the clock ends a window or a lock exactly as real time would. The store's own expiry
 * only garbage-collects keys nobody reads any more.
 *
 * Every refusal is a 429 with Retry-After (RFC 9110 10.2.3) and the RateLimit-Policy and
 * RateLimit fields of draft-ietf-httpapi-ratelimit-headers. A store that cannot answer is a
 * 503 where the policy fails closed (login, reset, signup) and is let through, logged, where it
 * fails open (the global ceiling and refresh, so an outage does not take the whole API down).
 */
import { createHash } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import { RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible'
import { AppError } from '../http/errors.js'
import type { Clock } from './clock.js'
import type { LimiterFactory } from './rate-limit-store.js'

/** How long clients are told to wait when the limit store is unreachable. */
export const STORE_DOWN_RETRY_SECONDS = 30

/**
 * Deadlines are stored as whole seconds after this instant, so they fit the 32-bit points
 * column of the library's PostgreSQL table until the 2090s.
 */
const DEADLINE_EPOCH_MS = Date.UTC(2024, 0, 1)

export interface WindowState {
  readonly policy: string
  readonly limit: number
  readonly windowSeconds: number
  readonly used: number
  readonly resetSeconds: number
}

export const exceeded = (state: WindowState): boolean => state.used > state.limit

/** Hashes a subject so keys have a fixed length and hold no email address or username. */
function digest(subject: string): string {
  return createHash('sha256').update(subject).digest('base64url')
}

/** The RateLimit-Policy and RateLimit fields (draft-ietf-httpapi-ratelimit-headers, 3 and 4). */
export function rateLimitHeaders(
  policy: string,
  quota: number,
  windowSeconds: number,
  remaining: number,
  resetSeconds: number,
) {
  return {
    'ratelimit-policy': `"${policy}";q=${quota};w=${windowSeconds}`,
    ratelimit: `"${policy}";r=${Math.max(remaining, 0)};t=${Math.max(resetSeconds, 0)}`,
  }
}

/** The 429 for a policy that said no; the detail never says which account or why. */
export function tooManyRequests(
  policy: string,
  quota: number,
  windowSeconds: number,
  retryAfterSeconds: number,
): AppError {
  const retry = Math.max(1, Math.ceil(retryAfterSeconds))
  return new AppError('RAMPART_HTTP_RATE_LIMITED', 'Too many attempts, retry later', undefined, {
    'retry-after': String(retry),
    ...rateLimitHeaders(policy, quota, windowSeconds, 0, retry),
  })
}

export function limiterUnavailable(): AppError {
  return new AppError(
    'RAMPART_RATE_LIMIT_UNAVAILABLE',
    'Request limits cannot be checked right now',
    undefined,
    {
      'retry-after': String(STORE_DOWN_RETRY_SECONDS),
    },
  )
}

/** Store failures become this; a 429 from the library itself never reaches callers. */
export class LimitStoreError extends Error {
  override name = 'LimitStoreError'
}

async function guarded<T>(operation: Promise<T>): Promise<T> {
  try {
    return await operation
  } catch (error) {
    if (error instanceof RateLimiterRes)
      throw new LimitStoreError('unexpected refusal from the store')
    throw new LimitStoreError('rate limit store failed', { cause: error })
  }
}

/** At most `limit` hits per subject in each fixed window of the clock. */
export class FixedWindow {
  private readonly store: RateLimiterAbstract

  constructor(
    factory: LimiterFactory,
    readonly policy: string,
    readonly limit: number,
    readonly windowSeconds: number,
    private readonly clock: Clock,
  ) {
    this.store = factory({ name: policy, points: limit, durationSeconds: windowSeconds })
  }

  /** Counts hits (one by default) and returns the window after them. */
  async hit(subject: string, points = 1): Promise<WindowState> {
    const { key, resetSeconds } = this.locate(subject)
    const res = await guarded(this.store.penalty(key, points))
    return this.state(res.consumedPoints, resetSeconds)
  }

  /** Takes back hits counted earlier in the current window. */
  async unhit(subject: string, points = 1): Promise<void> {
    await guarded(this.store.reward(this.locate(subject).key, points))
  }

  /** The current window's number: hits in different windows never share a count. */
  windowIndex(): number {
    return Math.floor(this.clock.now() / (this.windowSeconds * 1000))
  }

  /** Seconds until the current window ends. */
  secondsLeft(): number {
    const windowMs = this.windowSeconds * 1000
    const now = this.clock.now()
    return Math.ceil(((Math.floor(now / windowMs) + 1) * windowMs - now) / 1000)
  }

  /** The window as it stands, counting nothing. */
  async peek(subject: string): Promise<WindowState> {
    const { key, resetSeconds } = this.locate(subject)
    const res = await guarded(this.store.get(key))
    return this.state(res?.consumedPoints ?? 0, resetSeconds)
  }

  async clear(subject: string): Promise<void> {
    await guarded(this.store.delete(this.locate(subject).key))
  }

  refusal(state: WindowState): AppError {
    return tooManyRequests(this.policy, this.limit, this.windowSeconds, state.resetSeconds)
  }

  private locate(subject: string): { key: string; resetSeconds: number } {
    const windowMs = this.windowSeconds * 1000
    const now = this.clock.now()
    const index = Math.floor(now / windowMs)
    return {
      key: `${index}:${digest(subject)}`,
      resetSeconds: Math.ceil(((index + 1) * windowMs - now) / 1000),
    }
  }

  state(used: number, resetSeconds: number): WindowState {
    return {
      policy: this.policy,
      limit: this.limit,
      windowSeconds: this.windowSeconds,
      used,
      resetSeconds,
    }
  }
}

/** A lock per subject that ends at a deadline on the clock. */
export class Deadlines {
  private readonly store: RateLimiterAbstract

  constructor(
    factory: LimiterFactory,
    name: string,
    private readonly clock: Clock,
  ) {
    this.store = factory({ name, points: 1, durationSeconds: 1 })
  }

  /** Locks subject until untilMs; the stored row expires on its own shortly after. */
  async lock(subject: string, untilMs: number): Promise<void> {
    const seconds = Math.ceil((untilMs - DEADLINE_EPOCH_MS) / 1000)
    const ttl = Math.max(1, Math.ceil((untilMs - this.clock.now()) / 1000)) + 1
    await guarded(this.store.set(digest(subject), seconds, ttl))
  }

  /** Milliseconds left on subject's lock, 0 when it is not locked. */
  async remainingMs(subject: string): Promise<number> {
    const res = await guarded(this.store.get(digest(subject)))
    if (res === null) return 0
    const untilMs = DEADLINE_EPOCH_MS + res.consumedPoints * 1000
    return Math.max(0, untilMs - this.clock.now())
  }

  async clear(subject: string): Promise<void> {
    await guarded(this.store.delete(digest(subject)))
  }
}

/** Runs a check that must not fail open: a store failure becomes a 503. */
export async function failClosed<T>(log: FastifyBaseLogger, check: () => Promise<T>): Promise<T> {
  try {
    return await check()
  } catch (error) {
    if (!(error instanceof LimitStoreError)) throw error
    log.error({ err: error.cause }, 'rate limit store unavailable, refusing')
    throw limiterUnavailable()
  }
}

/** Runs a check that may fail open: a store failure is logged and the request goes on. */
export async function failOpen(log: FastifyBaseLogger, check: () => Promise<void>): Promise<void> {
  try {
    await check()
  } catch (error) {
    if (!(error instanceof LimitStoreError)) throw error
    log.warn({ err: error.cause }, 'rate limit store unavailable, not limiting')
  }
}
