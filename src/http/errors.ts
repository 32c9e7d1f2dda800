/**
 * The error registry: every failure a client can see, with a stable code, an HTTP status, a
 * problem `type` and a title (RFC 9457). Auth failures say one generic thing; the precise reason
 * goes to the security log only.
 */

export interface ErrorSpec {
  readonly status: number
  readonly title: string
}

export const ERRORS = {
  RAMPART_HTTP_BAD_REQUEST: { status: 400, title: 'Malformed request' },
  RAMPART_HTTP_BAD_JSON: { status: 400, title: 'Request body is not valid JSON' },
  RAMPART_HTTP_UNSUPPORTED_MEDIA_TYPE: { status: 400, title: 'Unsupported content type' },
  RAMPART_HTTP_BODY_TOO_LARGE: { status: 413, title: 'Request body too large' },
  RAMPART_HTTP_NOT_FOUND: { status: 404, title: 'Not found' },
  RAMPART_HTTP_METHOD_NOT_ALLOWED: { status: 405, title: 'Method not allowed' },
  RAMPART_HTTP_VALIDATION: { status: 422, title: 'Validation failed' },
  RAMPART_HTTP_CONFLICT: { status: 409, title: 'Conflict' },
  RAMPART_HTTP_RATE_LIMITED: { status: 429, title: 'Too many requests' },
  RAMPART_HTTP_UNAVAILABLE: { status: 503, title: 'Service unavailable' },
  RAMPART_HTTP_INTERNAL: { status: 500, title: 'Internal server error' },
  RAMPART_AUTH_UNAUTHENTICATED: { status: 401, title: 'Authentication required' },
  RAMPART_AUTH_INVALID_CREDENTIALS: { status: 401, title: 'Invalid credentials' },
  RAMPART_AUTH_INVALID_TOKEN: { status: 401, title: 'Invalid or expired token' },
  RAMPART_WEBHOOK_BAD_HEADERS: { status: 400, title: 'Webhook headers missing or malformed' },
  RAMPART_WEBHOOK_STALE: { status: 400, title: 'Webhook timestamp outside the accepted window' },
  RAMPART_WEBHOOK_BAD_SIGNATURE: { status: 401, title: 'Invalid webhook signature' },
  RAMPART_WEBHOOK_BAD_PAYLOAD: { status: 400, title: 'Malformed webhook payload' },
  RAMPART_AUTHZ_FORBIDDEN: { status: 403, title: 'Forbidden' },
  RAMPART_ACCOUNT_EXISTS: { status: 409, title: 'Account cannot be created' },
  RAMPART_EGRESS_DENIED: { status: 400, title: 'Destination not allowed' },
  RAMPART_FETCH_FAILED: { status: 502, title: 'The remote server could not be fetched' },
  RAMPART_FETCH_TIMEOUT: { status: 504, title: 'The remote server did not answer in time' },
  RAMPART_PING_UNAVAILABLE: { status: 503, title: 'ping is not available on this server' },
  RAMPART_PASSWORD_BUSY: { status: 503, title: 'Too many sign-ins in progress, retry shortly' },
  RAMPART_RATE_LIMIT_UNAVAILABLE: { status: 503, title: 'Request limits cannot be checked' },
  RAMPART_RESET_INVALID_TOKEN: { status: 400, title: 'Invalid or expired reset token' },
} as const satisfies Record<string, ErrorSpec>

export type ErrorCode = keyof typeof ERRORS

export interface FieldError {
  readonly field: string
  readonly message: string
}

/** Problem types are URNs (RFC 9457 3.1.1 allows any URI): no host that could go stale. */
export const PROBLEM_BASE = 'urn:rampart:problem:'

export function problemType(code: ErrorCode): string {
  return (
    PROBLEM_BASE +
    code
      .replace(/^RAMPART_/, '')
      .toLowerCase()
      .replaceAll('_', '-')
  )
}

/** The one error class the server throws on purpose; the error handler renders it. */
export class AppError extends Error {
  override name = 'AppError'
  readonly status: number

  constructor(
    readonly code: ErrorCode,
    readonly detail?: string,
    readonly errors?: readonly FieldError[],
    readonly headers?: Readonly<Record<string, string>>,
  ) {
    super(detail ?? ERRORS[code].title)
    this.status = ERRORS[code].status
  }
}

export const notFound = (): AppError => new AppError('RAMPART_HTTP_NOT_FOUND', 'Resource not found')
export const forbidden = (detail = 'You are not allowed to do this'): AppError =>
  new AppError('RAMPART_AUTHZ_FORBIDDEN', detail)
export const invalid = (errors: readonly FieldError[]): AppError =>
  new AppError('RAMPART_HTTP_VALIDATION', 'One or more fields are invalid', errors)
