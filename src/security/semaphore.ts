/** A counting semaphore with a bounded wait queue: work beyond both bounds is refused. */
export class BoundedSemaphore {
  private active = 0
  private readonly waiting: (() => void)[] = []

  constructor(
    private readonly limit: number,
    private readonly queueLimit: number,
  ) {}

  /** Runs task when a slot frees; returns undefined at once when the queue is already full. */
  async run<T>(task: () => Promise<T>): Promise<{ value: T } | undefined> {
    if (this.active >= this.limit) {
      if (this.waiting.length >= this.queueLimit) return undefined
      await new Promise<void>((resolve) => this.waiting.push(resolve))
    } else {
      this.active++
    }
    try {
      return { value: await task() }
    } finally {
      const next = this.waiting.shift()
      if (next === undefined) this.active--
      else next()
    }
  }
}
