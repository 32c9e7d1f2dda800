/**
 * Brute-force protection for password logins (OWASP Authentication Cheat Sheet, "Protect
 * against automated attacks"; ASVS 2.2.1), three counters deep:
 *
 * - username + client: after N consecutive failures the pair is blocked, for a base time that
 *   doubles with every further failure up to a cap. A successful login clears the pair.
 * - client across all usernames: failures per day are capped (credential stuffing).
 * - username across all clients: too many failures in a window lock the username for a while.
 *   During the lock even the right password is refused, so a botnet cannot keep guessing, and
 *   the lock ends by itself, so an attacker cannot lock the owner out for long.
 *
 * Keys are the username as typed (lowercased), never whether the account exists, so unknown and
 * real usernames are throttled identically and nothing leaks through the limits.
 */
import type { RateLimitConfig } from '../config.js'
import type { AppError } from '../http/errors.js'
import type { Clock } from './clock.js'
import type { LimiterFactory } from './rate-limit-store.js'
import { Deadlines, FixedWindow, tooManyRequests, type WindowState } from './rate-limits.js'

/** A password check the throttle let through, with the counts it reserved. */
export interface Reserved {
  readonly user: string
  readonly client: string
  readonly consecutive: number
  readonly byUser: number
}

/** Either a refusal (429) or a reserved check. */
export type Attempt =
  | { readonly refusal: AppError; readonly reserved?: Reserved }
  | { readonly refusal?: undefined; readonly reserved: Reserved }

/** How long a run of consecutive failures is remembered without a new one. */
const CONSECUTIVE_MEMORY_SECONDS = 86_400

export class LoginThrottle {
  private readonly pairFailures: FixedWindow
  private readonly pairBlocks: Deadlines
  private readonly pairBlockCount: FixedWindow
  private readonly clientFailures: FixedWindow
  private readonly userFailures: FixedWindow
  private readonly userLocks: Deadlines

  constructor(
    factory: LimiterFactory,
    private readonly limits: RateLimitConfig,
    private readonly clock: Clock,
  ) {
    this.pairFailures = new FixedWindow(
      factory,
      'login-pair',
      limits.loginFailuresBeforeBlock,
      CONSECUTIVE_MEMORY_SECONDS,
      clock,
    )
    this.pairBlocks = new Deadlines(factory, 'login-pair-block', clock)
    this.pairBlockCount = new FixedWindow(
      factory,
      'login-pair-blocks',
      1_000_000,
      CONSECUTIVE_MEMORY_SECONDS,
      clock,
    )
    this.clientFailures = new FixedWindow(
      factory,
      'login-ip',
      limits.loginIpFailuresPerDay,
      86_400,
      clock,
    )
    this.userFailures = new FixedWindow(
      factory,
      'login-user',
      limits.loginUserFailures,
      limits.loginUserWindowSeconds,
      clock,
    )
    this.userLocks = new Deadlines(factory, 'login-user-lock', clock)
  }

  /**
   * Reserves one password check for username from client, or refuses it. The attempt is counted
   * before the password is checked (increment, then compare), so a burst of parallel guesses
   * cannot all pass a read-then-count check; a refused attempt gives its counts back, and
   * succeeded() gives back a good one.
   */
  async attempt(username: string, client: string): Promise<Attempt> {
    const user = username.toLowerCase()
    const locked = await this.lockRefusal(user, client)
    if (locked !== undefined) return { refusal: locked }

    const [consecutive, byUser, perClient] = await Promise.all([
      this.pairFailures.hit(pair(user, client)),
      this.userFailures.hit(user),
      this.clientFailures.hit(client),
    ])
    const refusal = this.overLimit(consecutive, byUser, perClient)
    if (refusal === undefined)
      return { reserved: { user, client, consecutive: consecutive.used, byUser: byUser.used } }

    await this.release({ user, client, consecutive: consecutive.used, byUser: byUser.used })
    return { refusal }
  }

  /** The attempt's password was wrong: start any lock its count has earned. */
  async failed(attempt: Reserved): Promise<void> {
    const now = this.clock.now()
    const key = pair(attempt.user, attempt.client)
    if (attempt.consecutive >= this.limits.loginFailuresBeforeBlock) {
      const blocks = await this.pairBlockCount.hit(key)
      await this.pairBlocks.lock(key, now + this.blockMs(blocks.used))
      // After the block the pair gets one more try; failing it blocks again, twice as long.
      await this.pairFailures.unhit(key)
    }
    if (attempt.byUser >= this.limits.loginUserFailures) {
      await this.userLocks.lock(attempt.user, now + this.limits.loginUserLockSeconds * 1000)
      // The lock now stands for these failures; counting restarts when it ends.
      await this.userFailures.clear(attempt.user)
    }
  }

  /** The attempt's password was right: its run of failures is over and it was no failure. */
  async succeeded(attempt: Reserved): Promise<void> {
    const key = pair(attempt.user, attempt.client)
    await Promise.all([
      this.pairFailures.clear(key),
      this.pairBlocks.clear(key),
      this.pairBlockCount.clear(key),
      this.userFailures.unhit(attempt.user),
      this.clientFailures.unhit(attempt.client),
    ])
  }

  /** The password was never checked (the hasher was busy): the reservation is given back. */
  async release(attempt: Reserved): Promise<void> {
    await Promise.all([
      this.pairFailures.unhit(pair(attempt.user, attempt.client)),
      this.userFailures.unhit(attempt.user),
      this.clientFailures.unhit(attempt.client),
    ])
  }

  /** The refusal when a reserved count went past its limit (parallel attempts). */
  private overLimit(
    consecutive: WindowState,
    byUser: WindowState,
    perClient: WindowState,
  ): AppError | undefined {
    const limits = this.limits
    if (perClient.used > perClient.limit) return this.clientFailures.refusal(perClient)
    if (byUser.used > byUser.limit) {
      return tooManyRequests(
        'login-user',
        limits.loginUserFailures,
        limits.loginUserWindowSeconds,
        limits.loginUserLockSeconds,
      )
    }
    if (consecutive.used > consecutive.limit) {
      return tooManyRequests(
        'login',
        limits.loginFailuresBeforeBlock,
        limits.loginBlockSeconds,
        limits.loginBlockSeconds,
      )
    }
    return undefined
  }

  private async lockRefusal(user: string, client: string): Promise<AppError | undefined> {
    const [pairMs, userMs] = await Promise.all([
      this.pairBlocks.remainingMs(pair(user, client)),
      this.userLocks.remainingMs(user),
    ])
    const limits = this.limits
    if (userMs > 0) {
      return tooManyRequests(
        'login-user',
        limits.loginUserFailures,
        limits.loginUserWindowSeconds,
        userMs / 1000,
      )
    }
    if (pairMs > 0)
      return tooManyRequests(
        'login',
        limits.loginFailuresBeforeBlock,
        limits.loginBlockSeconds,
        pairMs / 1000,
      )
    return undefined
  }

  /** The Nth block's length: the base time, doubling with each further block, capped. */
  private blockMs(blocks: number): number {
    const doublings = Math.min(blocks - 1, 30)
    const seconds = Math.min(
      this.limits.loginBlockSeconds * 2 ** doublings,
      this.limits.loginBlockMaxSeconds,
    )
    return seconds * 1000
  }
}

function pair(user: string, client: string): string {
  return `${user}\n${client}`
}
