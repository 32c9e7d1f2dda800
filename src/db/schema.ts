/** Table types shared by every store. Timestamps are ISO 8601 UTC text on both databases. */
import type { ColumnType, Generated, Kysely } from 'kysely'

export interface UsersTable {
  id: string
  username: string
  username_lower: string
  email: string
  email_lower: string
  phone: string | null
  password_hash: string
  roles: string
  is_active: number
  mfa_enabled: number
  national_id_enc: string | null
  created_at: string
  updated_at: string
}

export interface SessionsTable {
  id: string
  user_id: string
  created_at: string
  expires_at: string
  revoked_at: string | null
  revoked_reason: string | null
}

export interface RefreshTokensTable {
  id: string
  session_id: string
  token_hash: string
  created_at: string
  expires_at: string
  used_at: string | null
}

export interface DocumentsTable {
  id: string
  owner_id: string
  title: string
  content: string
  created_at: string
  updated_at: string
}

export interface DocumentSharesTable {
  document_id: string
  user_id: string
  permission: 'read' | 'write'
  created_at: string
}

export interface SecurityEventsTable {
  /** bigserial on PostgreSQL, which the driver returns as a string. */
  seq: Generated<number | string>
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
  details: string
  prev_hash: string
  hash: string
}

/** bigint columns: PostgreSQL's driver returns them as strings, SQLite as numbers. */
type BigIntColumn = ColumnType<number | string, number, number>

export interface PaymentsTable {
  /** The sender's event id: its uniqueness is what makes a delivery apply at most once. */
  id: string
  type: 'payment.succeeded' | 'payment.failed' | 'payment.refunded'
  amount: BigIntColumn
  currency: string
  user_id: string
  /** The signed change this event made to the user's balance (0 when it made none). */
  balance_delta: BigIntColumn
  received_at: string
  payload: string
}

export interface PaymentBalancesTable {
  user_id: string
  currency: string
  balance: BigIntColumn
  updated_at: string
}

export interface PasswordResetTokensTable {
  id: string
  user_id: string
  token_hash: string
  created_at: string
  expires_at: string
  used_at: string | null
}

/** PostgreSQL only, written only by rate-limiter-flexible (SQLite keeps its own file). */
export interface RateLimitsTable {
  key: string
  points: number
  expire: number | string | null
}

export interface Database {
  users: UsersTable
  sessions: SessionsTable
  refresh_tokens: RefreshTokensTable
  documents: DocumentsTable
  document_shares: DocumentSharesTable
  security_events: SecurityEventsTable
  payments: PaymentsTable
  payment_balances: PaymentBalancesTable
  password_reset_tokens: PasswordResetTokensTable
  rate_limits: RateLimitsTable
}

export type Db = Kysely<Database>
export type Dialect = 'sqlite' | 'postgres'
