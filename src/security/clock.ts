/** The source of time; tests replace it when time is the subject. */
export interface Clock {
  now(): number
}

export const systemClock: Clock = { now: () => Date.now() }

export const isoAt = (ms: number): string => new Date(ms).toISOString()
