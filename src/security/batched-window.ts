/**
 * A fixed window counted mostly in process and written to the shared store in batches, for the
 * per-request global ceiling. Writing every request to the store cost more than the rest of an
 * authenticated read (measured with npm run bench); batching keeps the store authoritative
 * across instances while each instance writes once per batch.
 *
 * The first hit of a client in a window waits for the store, so the count starts from what every
 * instance has recorded. After that an instance decides from the last count it read plus its own
 * unsent hits, and a full batch of unsent hits waits for the store's answer, so with N instances
 * a client can exceed the limit by about N batches before every instance sees it. Tallies live
 * in a bounded LRU: a client evicted from it simply starts again from the store.
 */
import { BoundedLru } from './lru.js'
import type { FixedWindow, WindowState } from './rate-limits.js'

interface Tally {
  /** The store's count as last read, including every hit this instance sent before. */
  known: number
  /** Hits sent to the store whose answer has not come back yet. */
  inflight: number
  /** Hits counted here and not yet sent. */
  pending: number
  /** The store's answer being awaited, if any; it never rejects. */
  syncing: Promise<void> | undefined
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
    private readonly options: BatchOptions,
  ) {
    this.tallies = new BoundedLru(options.maxClients)
  }

  /** Counts one hit and returns the window as this instance knows it. */
  async hit(subject: string): Promise<WindowState> {
    const id = `${this.window.windowIndex()}:${subject}`
    let tally = this.tallies.get(id)
    if (tally === undefined) {
      tally = { known: 0, inflight: 0, pending: 1, syncing: undefined }
      this.tallies.set(id, tally)
      await this.flush(subject, tally)
    } else {
      tally.pending++
      // A full batch of unsent hits waits for the store before deciding: that is when this
      // instance learns what the others have counted, even in the middle of a burst.
      if (tally.pending >= this.options.batch) await this.sync(subject, tally)
    }
    return this.window.state(
      tally.known + tally.inflight + tally.pending,
      this.window.secondsLeft(),
    )
  }

  /** Waits for any answer in flight, then sends this batch if nobody else has. */
  private async sync(subject: string, tally: Tally): Promise<void> {
    while (tally.syncing !== undefined) await tally.syncing
    if (tally.pending >= this.options.batch) await this.flush(subject, tally)
  }

  private async flush(subject: string, tally: Tally): Promise<void> {
    const points = tally.pending
    tally.pending = 0
    tally.inflight += points
    const sent = this.window.hit(subject, points).then(
      (stored) => {
        tally.known = Math.max(tally.known, stored.used)
        tally.inflight -= points
      },
      (error: unknown) => {
        // Keep the hits so the next batch carries them; the caller decides to fail open.
        tally.inflight -= points
        tally.pending += points
        throw error
      },
    )
    const settled = sent.then(
      () => undefined,
      () => undefined,
    )
    tally.syncing = settled
    void settled.then(() => {
      if (tally.syncing === settled) tally.syncing = undefined
    })
    await sent
  }
}
