/**
 * Work done after the response (lookups and mail that must not show in response time). Bounded
 * in both directions: a few tasks run at once and a fixed number wait; past that, offer()
 * says no and the caller answers 503, so a flood can never grow an unbounded queue.
 */
import type { FastifyBaseLogger } from 'fastify'
import { BoundedSemaphore } from './security/semaphore.js'

export class BackgroundTasks {
  private readonly gate: BoundedSemaphore
  private readonly running = new Set<Promise<void>>()

  constructor(
    private readonly log: FastifyBaseLogger,
    concurrency = 2,
    private readonly queueLimit = 100,
  ) {
    this.gate = new BoundedSemaphore(concurrency, queueLimit)
  }

  /** Starts task later; false when the queue is full and the task was not taken. */
  offer(name: string, task: () => Promise<void>): boolean {
    if (this.running.size >= this.queueLimit) return false
    const done = this.gate
      .run(task)
      .then((taken) => {
        if (taken === undefined) this.log.warn({ task: name }, 'background task refused')
      })
      .catch((error: unknown) =>
        this.log.error({ err: error, task: name }, 'background task failed'),
      )
      .finally(() => this.running.delete(done))
    this.running.add(done)
    return true
  }

  /** Resolves once every task offered so far has finished (shutdown, tests). */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.all([...this.running])
  }
}
