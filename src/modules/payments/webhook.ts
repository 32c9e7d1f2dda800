/**
 * POST /webhooks/payment: signed payment events from the payment provider, applied exactly once.
 *
 * The signature covers the exact bytes sent, so this route reads the body as raw bytes through its
 * own JSON parser (registered in this plugin's context only) and verifies the signature before a
 * single byte is parsed: unauthenticated input never reaches the JSON parser or the schema. Only
 * then is the body parsed (with prototype-poisoning protection) and checked against the schema.
 * A body that fails either check after a good signature is refused with 400 and logged; nothing
 * of it is stored.
 *
 * Exactly once: the event id is the primary key of `payments`, and the event's balance effect is
 * applied by the same insert (see migration 003). The first delivery answers `processed`, every
 * later one `duplicate`, also when the provider re-signs it days later.
 *
 * An event for a user id that does not exist is recorded (so it deduplicates and an admin can see
 * it) with no effect on any balance, answered `processed` so the provider stops retrying, and
 * logged as a security event: it means the sender and this server disagree about who exists.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyError, FastifyInstance, FastifyRequest } from 'fastify'
import secureJsonParse from 'secure-json-parse'
import { Type, type Static } from 'typebox'
import type { AppContext } from '../../context.js'
import { recordEvent } from '../../http/authenticate.js'
import { AppError, type ErrorCode, type FieldError } from '../../http/errors.js'
import { toAppError } from '../../http/problem-handler.js'
import { Id, problems } from '../../http/schemas.js'
import { PUBLIC } from '../../security/access.js'
import { isoAt } from '../../security/clock.js'
import {
  DEFAULT_TOLERANCE_SECONDS,
  WebhookSignature,
  type SignatureFailure,
} from '../../security/webhook-signature.js'
import { findUserById } from '../accounts/store.js'
import { recordPayment, type PaymentType } from './store.js'

/** Payment events are small; 64 KiB leaves room for provider metadata in `data`. */
export const WEBHOOK_BODY_LIMIT = 64 * 1024
// Minor units; at most 10^12 keeps every sum of realistic balances a safe JavaScript integer.
const MAX_AMOUNT = 1_000_000_000_000

const PaymentEventType = Type.Union([
  Type.Literal('payment.succeeded'),
  Type.Literal('payment.failed'),
  Type.Literal('payment.refunded'),
])

/** Event ids as providers issue them (`evt_...`): printable, no spaces, no quotes. */
export const EVENT_ID_PATTERN = '^[A-Za-z0-9_.:-]{1,200}$'

export const PaymentEvent = Type.Object(
  {
    id: Type.String({ minLength: 1, maxLength: 200, pattern: EVENT_ID_PATTERN }),
    type: PaymentEventType,
    data: Type.Object(
      {
        amount: Type.Integer({ minimum: 0, maximum: MAX_AMOUNT, description: 'Minor units' }),
        currency: Type.String({ pattern: '^[A-Z]{3}$', description: 'ISO 4217 code' }),
        user_id: Id,
      },
      { additionalProperties: true },
    ),
  },
  { additionalProperties: false },
)
type PaymentEventT = Static<typeof PaymentEvent>

const WebhookReply = Type.Object({
  status: Type.Union([Type.Literal('processed'), Type.Literal('duplicate')]),
})

// How each event type moves the user's balance in its currency.
const BALANCE_SIGN: Record<PaymentType, number> = {
  'payment.succeeded': 1,
  'payment.failed': 0,
  'payment.refunded': -1,
}

interface Refusal {
  readonly code: ErrorCode
  readonly detail: string
  readonly event: string
}

const REFUSALS: Record<SignatureFailure, Refusal> = {
  missing_headers: {
    code: 'RAMPART_WEBHOOK_BAD_HEADERS',
    detail: 'X-Timestamp and X-Signature are required',
    event: 'input_validation_fail',
  },
  malformed_timestamp: {
    code: 'RAMPART_WEBHOOK_BAD_HEADERS',
    detail: 'X-Timestamp must be Unix seconds',
    event: 'input_validation_fail',
  },
  malformed_signature: {
    code: 'RAMPART_WEBHOOK_BAD_HEADERS',
    detail: 'X-Signature must be comma-separated hex HMAC-SHA256 values',
    event: 'input_validation_fail',
  },
  signature_mismatch: {
    code: 'RAMPART_WEBHOOK_BAD_SIGNATURE',
    detail: 'The webhook signature is not valid',
    event: 'webhook_signature_invalid',
  },
  timestamp_too_old: {
    code: 'RAMPART_WEBHOOK_STALE',
    detail: `X-Timestamp is more than ${DEFAULT_TOLERANCE_SECONDS} seconds from the server time`,
    event: 'webhook_timestamp_rejected',
  },
  timestamp_in_future: {
    code: 'RAMPART_WEBHOOK_STALE',
    detail: `X-Timestamp is more than ${DEFAULT_TOLERANCE_SECONDS} seconds from the server time`,
    event: 'webhook_timestamp_rejected',
  },
}

type PayloadProblem = 'not_json' | 'no_body' | 'schema'

const PAYLOAD_DETAILS: Record<PayloadProblem, string> = {
  not_json: 'The body is not valid UTF-8 JSON',
  no_body: 'A JSON body is required',
  schema: 'The body does not match the payment event schema',
}

const EMPTY = Buffer.alloc(0)

export function paymentWebhookRoute(ctx: AppContext) {
  const signatures = new WebhookSignature({ secrets: ctx.config.webhookSecrets, clock: ctx.clock })
  // RFC 8259 8.1: JSON exchanged between systems is UTF-8; bytes that are not are refused.
  const utf8 = new TextDecoder('utf-8', { fatal: true })

  async function authenticate(request: FastifyRequest, raw: Buffer): Promise<void> {
    const timestamp = header(request, 'x-timestamp')
    const verdict = signatures.verify(timestamp, header(request, 'x-signature'), raw)
    if (verdict.ok) return

    const refusal = REFUSALS[verdict.reason]
    const details = {
      source: 'payment_webhook',
      reason: verdict.reason,
      timestamp: timestamp?.slice(0, 32) ?? null,
    }
    await recordEvent(ctx, request, { type: refusal.event, outcome: 'blocked', details })
    throw new AppError(refusal.code, refusal.detail)
  }

  // The same prototype-poisoning rules the app applies to every other JSON body.
  async function parse(request: FastifyRequest, raw: Buffer): Promise<unknown> {
    try {
      const options = { protoAction: 'error', constructorAction: 'error' } as const
      return secureJsonParse(utf8.decode(raw), null, options) as unknown
    } catch {
      throw await refusePayload(ctx, request, 'not_json')
    }
  }

  async function verifyThenParse(request: FastifyRequest, raw: Buffer): Promise<unknown> {
    await authenticate(request, raw)
    return parse(request, raw)
  }

  return async (plain: FastifyInstance): Promise<void> => {
    // Only this parser in this context: a form or text body must not reach the handler unsigned.
    const parserOptions = { parseAs: 'buffer', bodyLimit: WEBHOOK_BODY_LIMIT } as const
    plain.removeAllContentTypeParsers()
    plain.addContentTypeParser('application/json', parserOptions, verifyThenParse)

    const app = plain.withTypeProvider<TypeBoxTypeProvider>()

    app.post(
      '/webhooks/payment',
      {
        config: { policy: PUBLIC },
        bodyLimit: WEBHOOK_BODY_LIMIT,
        // A schema failure after a good signature is a malformed delivery (400), logged, not 422.
        attachValidation: true,
        schema: {
          tags: ['payments'],
          summary: 'Receive a signed payment event',
          description:
            'Headers X-Timestamp (Unix seconds) and X-Signature (hex HMAC-SHA256 over ' +
            '"{X-Timestamp}." + raw body; several comma-separated values accepted).',
          body: PaymentEvent,
          response: { 200: WebhookReply, ...problems(400, 401, 413) },
        },
        // A request without a body never reaches the parser; it is authenticated over no bytes.
        preValidation: async (request) => {
          // Typed as the schema's shape, but not yet validated: it is undefined when nothing came.
          if ((request.body as unknown) !== undefined) return
          await authenticate(request, EMPTY)
          throw await refusePayload(ctx, request, 'no_body')
        },
      },
      async (request) => {
        if (request.validationError !== undefined) {
          const fields = toAppError(request.validationError as FastifyError, request).errors
          throw await refusePayload(ctx, request, 'schema', fields)
        }
        return { status: await applyEvent(ctx, request, request.body) }
      },
    )
  }
}

/** Records the event and its effect in one insert; reports whether this delivery applied it. */
async function applyEvent(
  ctx: AppContext,
  request: FastifyRequest,
  event: PaymentEventT,
): Promise<'processed' | 'duplicate'> {
  const { amount, currency, user_id } = event.data
  const known = (await findUserById(ctx.db, user_id)) !== undefined
  const applied = await recordPayment(ctx.db, {
    id: event.id,
    type: event.type,
    amount,
    currency,
    user_id,
    balance_delta: known ? BALANCE_SIGN[event.type] * amount : 0,
    received_at: isoAt(ctx.clock.now()),
    payload: JSON.stringify(event),
  })
  if (!applied) return 'duplicate'

  if (!known) {
    const details = { source: 'payment_webhook', event_id: event.id, target_user_id: user_id }
    await recordEvent(ctx, request, {
      type: 'webhook_payment_unknown_user',
      outcome: 'failure',
      details,
    })
  }
  return 'processed'
}

/** Logs a signed but unusable body and returns the 400 to throw. */
async function refusePayload(
  ctx: AppContext,
  request: FastifyRequest,
  reason: PayloadProblem,
  errors?: readonly FieldError[],
): Promise<AppError> {
  const details = {
    source: 'payment_webhook',
    reason,
    event_id: eventIdOf(request.body),
    fields: errors?.map((e) => e.field) ?? [],
  }
  await recordEvent(ctx, request, { type: 'webhook_payload_invalid', outcome: 'blocked', details })
  return new AppError('RAMPART_WEBHOOK_BAD_PAYLOAD', PAYLOAD_DETAILS[reason], errors)
}

/** The event id of a refused body when it has a usable one, so the log can name the event. */
function eventIdOf(body: unknown): string | null {
  if (typeof body !== 'object' || body === null || !('id' in body)) return null
  return typeof body.id === 'string' ? body.id.slice(0, 200) : null
}

// Node joins repeated X- headers with ", "; a repeated X-Timestamp then fails the digits check.
function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name]
  return Array.isArray(value) ? value.join(', ') : value
}
