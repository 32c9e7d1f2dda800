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
import { Deadlines, FixedWindow, tooManyRequests } from './rate-limits.js'

/** How long a run of consecutive failures is remembered without a new one. */
const CONSECUTIVE_MEMORY_SECONDS = 86_400

export class LoginThrottle {
  private readonly pairFailures: FixedWindow
  private readonly pairBlocks: Deadlines
  private readonly clientFailures: FixedWindow
  private readonly userFailures: FixedWindow
  private readonly userLocks: Deadlines

  constructor(
    factory: LimiterFactory,
    private readonly limits: RateLimitConfig,
    private readonly clock: Clock,
  ) {
    this.pairFailures = new FixedWindow(factory, 'login-pair', limits.loginFailuresBeforeBlock, CONSECUTIVE_MEMORY_SECONDS, clock)
    this.pairBlocks = new Deadlines(factory, 'login-pair-block', clock)
    this.clientFailures = new FixedWindow(factory, 'login-ip', limits.loginIpFailuresPerDay, 86_400, clock)
    this.userFailures = new FixedWindow(factory, 'login-user', limits.loginUserFailures, limits.loginUserWindowSeconds, clock)
    this.userLocks = new Deadlines(factory, 'login-user-lock', clock)
  }

  /** The refusal for this attempt, or undefined when it may go on to the password check. */
  async refusal(username: string, client: string): Promise<AppError | undefined> {
    const user = username.toLowerCase()
    const [pairMs, userMs, perClient] = await Promise.all([
      this.pairBlocks.remainingMs(pair(user, client)),
      this.userLocks.remainingMs(user),
      this.clientFailures.peek(client),
    ])
    const limits = this.limits
    if (userMs > 0) {
      return tooManyRequests('login-user', limits.loginUserFailures, limits.loginUserWindowSeconds, userMs / 1000)
    }
    if (pairMs > 0) return tooManyRequests('login', limits.loginFailuresBeforeBlock, limits.loginBlockSeconds, pairMs / 1000)
    if (perClient.used >= perClient.limit) return this.clientFailures.refusal(perClient)
    return undefined
  }

  /** Counts a failed attempt against all three counters and starts any lock it earns. */
  async failed(username: string, client: string): Promise<void> {
    const user = username.toLowerCase()
    const now = this.clock.now()
    const [consecutive, byUser] = await Promise.all([
      this.pairFailures.hit(pair(user, client)),
      this.userFailures.hit(user),
      this.clientFailures.hit(client),
    ])

    if (consecutive.used >= consecutive.limit) {
      await this.pairBlocks.lock(pair(user, client), now + this.blockMs(consecutive.used))
    }
    if (byUser.used >= byUser.limit) {
      await this.userLocks.lock(user, now + this.limits.loginUserLockSeconds * 1000)
      // The lock now stands for these failures; counting restarts when it ends.
      await this.userFailures.clear(user)
    }
  }

  /** A correct password from this client: its run of failures for the username is over. */
  async succeeded(username: string, client: string): Promise<void> {
    const key = pair(username.toLowerCase(), client)
    await Promise.all([this.pairFailures.clear(key), this.pairBlocks.clear(key)])
  }

  /** Base time after the Nth failure, doubling with each further one, capped. */
  private blockMs(failures: number): number {
    const doublings = Math.min(failures - this.limits.loginFailuresBeforeBlock, 30)
    const seconds = Math.min(this.limits.loginBlockSeconds * 2 ** doublings, this.limits.loginBlockMaxSeconds)
    return seconds * 1000
  }
}

function pair(user: string, client: string): string {
  return `${user}\n${client}`
}
