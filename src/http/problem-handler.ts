/**
 * Renders every error as RFC 9457 problem+json. Client mistakes get a coded 4xx with a constant
 * message; anything unexpected is logged in full and answered with a bare 500, so no stack trace,
 * SQL, path or library name ever leaves the server.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { AppError, ERRORS, problemType, type ErrorCode, type FieldError } from './errors.js'

interface AjvIssue {
  instancePath: string
  keyword: string
  message?: string
  params: Record<string, unknown>
}

export function sendProblem(
  reply: FastifyReply,
  request: FastifyRequest,
  error: AppError,
): FastifyReply {
  if (error.status === 401) reply.header('www-authenticate', 'Bearer realm="rampart"')
  for (const [name, value] of Object.entries(error.headers ?? {})) reply.header(name, value)
  const body = {
    type: problemType(error.code),
    title: ERRORS[error.code].title,
    status: error.status,
    detail: error.detail ?? ERRORS[error.code].title,
    instance: request.url.split('?')[0],
    ...(error.errors === undefined ? {} : { errors: error.errors }),
  }
  return reply.code(error.status).type('application/problem+json; charset=utf-8').send(body)
}

/** Translates framework and unexpected errors into AppErrors. */
export function toAppError(error: FastifyError, request: FastifyRequest): AppError {
  if (error instanceof AppError) return error
  if (error.validation !== undefined) {
    return new AppError(
      'RAMPART_HTTP_VALIDATION',
      'One or more fields are invalid',
      fieldErrors(error.validation, error.validationContext),
    )
  }
  const status = error.statusCode ?? 500
  const byStatus: Partial<Record<number, ErrorCode>> = {
    400:
      error.code === 'FST_ERR_CTP_INVALID_JSON_BODY' ||
      error instanceof SyntaxError ||
      /JSON|prototype|constructor/i.test(error.message)
        ? 'RAMPART_HTTP_BAD_JSON'
        : 'RAMPART_HTTP_BAD_REQUEST',
    404: 'RAMPART_HTTP_NOT_FOUND',
    405: 'RAMPART_HTTP_METHOD_NOT_ALLOWED',
    413: 'RAMPART_HTTP_BODY_TOO_LARGE',
    415: 'RAMPART_HTTP_UNSUPPORTED_MEDIA_TYPE',
    429: 'RAMPART_HTTP_RATE_LIMITED',
  }
  const code = byStatus[status]
  if (code !== undefined) return new AppError(code)
  if (status >= 400 && status < 500) return new AppError('RAMPART_HTTP_BAD_REQUEST')
  request.log.error({ err: error }, 'unhandled error')
  return new AppError('RAMPART_HTTP_INTERNAL', 'The server could not complete the request')
}

function fieldErrors(issues: readonly AjvIssue[], context: string | undefined): FieldError[] {
  const seen = new Map<string, string>()
  for (const issue of issues) {
    const base = issue.instancePath.replace(/^\//, '').replaceAll('/', '.')
    const child = issue.params.missingProperty ?? issue.params.additionalProperty
    const field =
      [base, typeof child === 'string' ? child : ''].filter((p) => p !== '').join('.') ||
      (context ?? 'body')
    if (seen.has(field)) continue
    seen.set(field, describe(issue))
  }
  return [...seen].map(([field, message]) => ({ field, message }))
}

function describe(issue: AjvIssue): string {
  switch (issue.keyword) {
    case 'required':
      return 'is required'
    case 'additionalProperties':
      return 'is not an allowed field'
    case 'type':
      return `must be ${String(issue.params.type)}`
    default:
      return issue.message ?? 'is invalid'
  }
}

export function registerProblemHandlers(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request, reply) =>
    sendProblem(reply, request, toAppError(error, request)),
  )
  app.setNotFoundHandler((request, reply) =>
    sendProblem(reply, request, new AppError('RAMPART_HTTP_NOT_FOUND', 'No such resource')),
  )
}
