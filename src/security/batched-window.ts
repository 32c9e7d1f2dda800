/**
 * A fixed window counted mostly in process and written to the shared store in batches, for the
 * per-request global ceiling. Writing every request to the store cost more than the rest of an
 * authenticated read (measured with npm run bench); batching keeps the store authoritative
 * across instances while each instance writes once per batch.
 *
 * The first hit of a client in a window waits for the store, so the count starts from what every
 * instance has recorded. After that an instance decides from the last count it read plus its own
 * unsent hits, so with N instances a client can exceed the limit by at most N times the batch
 * size before every instance sees it. Tallies live in a bounded LRU: a client evicted from it
 * simply starts again from the store.
 */
import type { FastifyBaseLogger } from 'fastify'
import { BoundedLru } from './lru.js'
import type { FixedWindow, WindowState } from './rate-limits.js'

interface Tally {
  /** The store's count as last read, including every hit this instance sent before. */
  known: number
  /** Hits sent to the store whose answer has not come back yet. */
  inflight: number
  /** Hits counted here and not yet sent. */
  pending: number
  syncing: boolean
}

export interface BatchOptions {
  /** Hits per client sent to the store at once. */
  readonly batch: number
  /** Clients tracked at once in this process. */
  readonly maxClients: number
}

/** The batch for a limit: about 5% of it, at least 1 (exact) and at most 50. */
export function batchFor(limit: number): number {
  return Math.max(1, Math.min(50, Math.floor(limit / 20)))
}

export class BatchedWindow {
  private readonly tallies: BoundedLru<string, Tally>

  constructor(
    readonly window: FixedWindow,
    private readonly log: FastifyBaseLogger,
    private readonly options: BatchOptions,
  ) {
    this.tallies = new BoundedLru(options.maxClients)
  }

  /** Counts one hit and returns the window as this instance knows it. */
  async hit(subject: string): Promise<WindowState> {
    const id = `${this.window.windowIndex()}:${subject}`
    let tally = this.tallies.get(id)
    if (tally === undefined) {
      tally = { known: 0, inflight: 0, pending: 1, syncing: false }
      this.tallies.set(id, tally)
      await this.flush(subject, tally)
    } else {
      tally.pending++
      if (tally.pending >= this.options.batch && !tally.syncing) {
        this.flush(subject, tally).catch((error: unknown) => {
          this.log.warn({ err: error }, 'global request count not stored')
        })
      }
    }
    return this.window.state(tally.known + tally.inflight + tally.pending, this.window.secondsLeft())
  }

  private async flush(subject: string, tally: Tally): Promise<void> {
    const points = tally.pending
    tally.pending = 0
    tally.inflight += points
    tally.syncing = true
    try {
      const stored = await this.window.hit(subject, points)
      tally.known = Math.max(tally.known, stored.used)
      tally.inflight -= points
    } catch (error) {
      // Keep the hits so the next batch carries them; the caller decides to fail open.
      tally.inflight -= points
      tally.pending += points
      throw error
    } finally {
      tally.syncing = false
    }
  }
}
