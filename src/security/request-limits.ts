/**
 * The configured limit policies, built once at startup over one store. Modules call these by
 * name; only the numbers come from configuration (see docs/abuse-resistance.md).
 */
import type { FastifyBaseLogger } from 'fastify'
import type { RateLimitConfig } from '../config.js'
import { BatchedWindow, batchFor } from './batched-window.js'
import type { Clock } from './clock.js'
import { LoginThrottle } from './login-throttle.js'
import type { LimiterFactory } from './rate-limit-store.js'
import { FixedWindow, exceeded, failClosed, failOpen, type WindowState } from './rate-limits.js'

export class RequestLimits {
  /** Every request per client address: a coarse flood ceiling, batched. Fails open. */
  readonly global: BatchedWindow
  /** Account creation per client address. Fails closed. */
  readonly signup: FixedWindow
  /** Refresh-token spends per client address. Fails open. */
  readonly refresh: FixedWindow
  /** Reset requests per client address and email (API contract: 5 per hour). Fails closed. */
  readonly reset: FixedWindow
  /** Reset mails per address from all clients: no mail bombing from many addresses. */
  readonly resetMail: FixedWindow
  readonly login: LoginThrottle

  constructor(
    factory: LimiterFactory,
    limits: RateLimitConfig,
    clock: Clock,
    private readonly log: FastifyBaseLogger,
  ) {
    const global = new FixedWindow(factory, 'global', limits.globalPerMinute, 60, clock)
    this.global = new BatchedWindow(global, {
      batch: batchFor(limits.globalPerMinute),
      maxClients: 10_000,
    })
    this.signup = new FixedWindow(factory, 'signup', limits.signupPerHour, 3600, clock)
    this.refresh = new FixedWindow(factory, 'refresh', limits.refreshPerMinute, 60, clock)
    this.reset = new FixedWindow(factory, 'reset', limits.resetPerHour, 3600, clock)
    this.resetMail = new FixedWindow(factory, 'reset-mail', limits.resetMailsPerHour, 3600, clock)
    this.login = new LoginThrottle(factory, limits, clock)
  }

  /** Counts a hit; throws 429 past the limit and 503 when the store cannot answer. */
  async enforceClosed(window: FixedWindow, subject: string): Promise<WindowState> {
    const state = await failClosed(this.log, () => window.hit(subject))
    if (exceeded(state)) throw window.refusal(state)
    return state
  }

  /** Counts a hit; throws 429 past the limit, lets the request through when the store fails. */
  async enforceOpen(
    limit: FixedWindow | BatchedWindow,
    subject: string,
  ): Promise<WindowState | undefined> {
    let state: WindowState | undefined
    await failOpen(this.log, async () => {
      state = await limit.hit(subject)
    })
    const window = limit instanceof BatchedWindow ? limit.window : limit
    if (state !== undefined && exceeded(state)) throw window.refusal(state)
    return state
  }

  /** Runs login-throttle work that must fail closed. */
  closed<T>(check: () => Promise<T>): Promise<T> {
    return failClosed(this.log, check)
  }
}
