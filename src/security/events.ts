/**
 * Security events (OWASP Logging Vocabulary names): written to the database as a hash chain, so
 * an edited or removed row breaks verification, and to the log stream as structured JSON.
 */
import { createHash } from 'node:crypto'
import { sql } from 'kysely'
import type { FastifyBaseLogger } from 'fastify'
import { v7 as uuidv7 } from 'uuid'
import type { Db, Dialect, SecurityEventsTable } from '../db/schema.js'
import { isoAt, type Clock } from './clock.js'

export type EventType =
  | 'authn_login_success'
  | 'authn_login_fail'
  | 'authn_login_rehash'
  | 'authn_token_invalid'
  | 'authn_token_reuse'
  | 'authn_token_refreshed'
  | 'authz_fail'
  | 'excess_rate_limit_exceeded'
  | 'session_logout'
  | 'session_logout_all'
  | 'session_revoked'
  | 'user_created'
  | 'user_updated'
  | 'privilege_changed'
  | 'password_changed'
  | 'input_validation_fail'
  | (string & {})

export type Outcome = 'success' | 'failure' | 'blocked'

/** What the request contributes to an event: who asked, from where, for what. */
export interface EventContext {
  readonly ip?: string | null
  readonly userAgent?: string | null
  readonly method?: string | null
  readonly path?: string | null
  readonly requestId?: string | null
  readonly userId?: string | null
}

export interface EventInput extends EventContext {
  readonly type: EventType
  readonly outcome: Outcome
  readonly details?: Readonly<Record<string, unknown>>
}

export interface SecurityEvent {
  id: string
  at: string
  type: string
  outcome: string
  ip: string | null
  user_agent: string | null
  method: string | null
  path: string | null
  user_id: string | null
  request_id: string | null
  details: Record<string, unknown>
}

const GENESIS = '0'.repeat(64)
// Serializes chain appends across every instance sharing one PostgreSQL database.
const PG_CHAIN_LOCK = 0x52414d50

export class SecurityEvents {
  constructor(
    private readonly db: Db,
    private readonly dialect: Dialect,
    private readonly clock: Clock,
    private readonly log: FastifyBaseLogger,
  ) {}

  /** Appends one event to the chain and the log; never throws (a logging failure is logged). */
  async record(input: EventInput): Promise<void> {
    const event: SecurityEvent = {
      id: uuidv7(),
      at: isoAt(this.clock.now()),
      type: input.type,
      outcome: input.outcome,
      ip: input.ip ?? null,
      user_agent: input.userAgent?.slice(0, 512) ?? null,
      method: input.method ?? null,
      path: input.path ?? null,
      user_id: input.userId ?? null,
      request_id: input.requestId ?? null,
      details: { ...input.details },
    }
    this.log.info({ security_event: event }, 'security event')
    try {
      await this.append(event)
    } catch (error) {
      this.log.error({ err: error, event_id: event.id }, 'security event not stored')
    }
  }

  private async append(event: SecurityEvent): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      if (this.dialect === 'postgres')
        await sql`select pg_advisory_xact_lock(${PG_CHAIN_LOCK})`.execute(trx)
      const last = await trx
        .selectFrom('security_events')
        .select('hash')
        .orderBy('seq', 'desc')
        .limit(1)
        .executeTakeFirst()
      const prevHash = last?.hash ?? GENESIS
      await trx
        .insertInto('security_events')
        .values({ ...toRow(event), prev_hash: prevHash, hash: chainHash(prevHash, event) })
        .execute()
    })
  }

  /** Recomputes the chain from the first event; reports the first event that does not match. */
  async verify(batch = 1000): Promise<{ ok: boolean; checked: number; first_bad?: string }> {
    let prevHash = GENESIS
    let checked = 0
    let afterSeq = -1
    for (;;) {
      const rows = await this.db
        .selectFrom('security_events')
        .selectAll()
        .where('seq', '>', afterSeq)
        .orderBy('seq', 'asc')
        .limit(batch)
        .execute()
      for (const row of rows) {
        const expected = chainHash(prevHash, fromRow(row))
        if (row.prev_hash !== prevHash || row.hash !== expected)
          return { ok: false, checked, first_bad: row.id }
        prevHash = row.hash
        checked++
      }
      const last = rows.at(-1)
      if (last === undefined || rows.length < batch) return { ok: true, checked }
      afterSeq = Number(last.seq)
    }
  }
}

type EventRow = Omit<SecurityEventsTable, 'seq' | 'prev_hash' | 'hash'>

function toRow(event: SecurityEvent): EventRow {
  return { ...event, details: JSON.stringify(event.details) }
}

/** Turns a stored row back into the event shape the API returns. */
export function fromRow(row: EventRow): SecurityEvent {
  let details: Record<string, unknown> = {}
  try {
    details = JSON.parse(row.details) as Record<string, unknown>
  } catch {
    details = { unparsable: true }
  }
  return {
    id: row.id,
    at: row.at,
    type: row.type,
    outcome: row.outcome,
    ip: row.ip,
    user_agent: row.user_agent,
    method: row.method,
    path: row.path,
    user_id: row.user_id,
    request_id: row.request_id,
    details,
  }
}

function chainHash(prevHash: string, event: SecurityEvent): string {
  const fields = [
    event.id,
    event.at,
    event.type,
    event.outcome,
    event.ip,
    event.user_agent,
    event.method,
    event.path,
    event.user_id,
    event.request_id,
    JSON.stringify(event.details),
  ]
  return createHash('sha256').update(prevHash).update(JSON.stringify(fields)).digest('hex')
}
