/** Accounts: signup, the caller's own record, updates with the ownership rule, search, listing. */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyError, FastifyInstance, FastifyRequest } from 'fastify'
import type { AppContext } from '../../context.js'
import { limitKeyForAddress } from '../../security/client-address.js'
import { principalOf, recordEvent } from '../../http/authenticate.js'
import { forbidden, invalid, notFound, type FieldError } from '../../http/errors.js'
import { toAppError } from '../../http/problem-handler.js'
import { decodeCursor, pageOf } from '../../http/pagination.js'
import { IdParams, Page, PageQuery, problems } from '../../http/schemas.js'
import { hasRole, PUBLIC, role, type Principal } from '../../security/access.js'
import { accountRuleErrors, createAccount, reservedNameErrors, userView } from './service.js'
import {
  SearchQuery,
  SignupBody,
  UpdateUserBody,
  User,
  UserSummary,
  type SignupBodyT,
} from './schemas.js'
import { findUserById, listUsers, searchUsernames } from './store.js'
import { applyUserUpdate } from './update.js'

export function accountRoutes(ctx: AppContext) {
  return async (plain: FastifyInstance): Promise<void> => {
    const app = plain.withTypeProvider<TypeBoxTypeProvider>()

    app.post(
      '/users',
      {
        config: { policy: PUBLIC },
        attachValidation: true,
        schema: {
          tags: ['accounts'],
          summary: 'Sign up',
          body: SignupBody,
          response: { 201: User, ...problems(400, 409, 413, 422, 429, 503) },
        },
      },
      async (request, reply) => {
        await ctx.limits.enforceClosed(ctx.limits.signup, limitKeyForAddress(request.ip))
        const body = signupBody(ctx, request)
        const row = await createAccount(ctx, { ...body, roles: ['user'] })
        await recordEvent(ctx, request, {
          type: 'user_created',
          outcome: 'success',
          userId: row.id,
        })
        return reply.code(201).send(userView(ctx, row))
      },
    )

    app.get(
      '/users/me',
      {
        config: { policy: role('viewer') },
        schema: {
          tags: ['accounts'],
          security: [{ bearer: [] }],
          response: { 200: User, ...problems(401) },
        },
      },
      async (request) => {
        const row = await findUserById(ctx.db, principalOf(request).userId)
        if (row === undefined) throw notFound()
        return userView(ctx, row, true)
      },
    )

    app.get(
      '/users/search',
      {
        config: { policy: role('user') },
        schema: {
          tags: ['accounts'],
          summary: 'Find users by a plain substring of their username',
          security: [{ bearer: [] }],
          querystring: SearchQuery,
          response: { 200: Page(UserSummary), ...problems(401, 403, 422) },
        },
      },
      async (request) => {
        const { q, limit, cursor } = request.query
        const rows = await searchUsernames(ctx.db, q, decodeCursor(cursor), limit)
        return pageOf(rows, limit)
      },
    )

    app.get(
      '/users/:id',
      {
        config: { policy: role('viewer') },
        schema: {
          tags: ['accounts'],
          security: [{ bearer: [] }],
          params: IdParams,
          response: { 200: User, ...problems(401, 403, 404) },
        },
      },
      async (request) => {
        const caller = principalOf(request)
        assertSelfOrAdmin(caller, request.params.id)
        const row = await findUserById(ctx.db, request.params.id)
        if (row === undefined) throw notFound()
        return userView(ctx, row, true)
      },
    )

    app.patch(
      '/users/:id',
      {
        config: { policy: role('viewer') },
        schema: {
          tags: ['accounts'],
          summary:
            'Update a user (own email, phone, password, national_id; admins also roles, is_active)',
          security: [{ bearer: [] }],
          params: IdParams,
          body: UpdateUserBody,
          response: { 200: User, ...problems(400, 401, 403, 404, 409, 422) },
        },
      },
      async (request) => {
        const caller = principalOf(request)
        assertSelfOrAdmin(caller, request.params.id)
        const row = await applyUserUpdate(ctx, request, caller, request.params.id, request.body)
        return userView(ctx, row, true)
      },
    )

    app.get(
      '/admin/users',
      {
        config: { policy: role('admin') },
        schema: {
          tags: ['admin'],
          security: [{ bearer: [] }],
          querystring: PageQuery,
          response: { 200: Page(User), ...problems(401, 403, 422) },
        },
      },
      async (request) => {
        const { limit, cursor } = request.query
        const rows = await listUsers(ctx.db, decodeCursor(cursor), limit)
        const page = pageOf(rows, limit)
        return { items: page.items.map((r) => userView(ctx, r)), next_cursor: page.next_cursor }
      },
    )
  }
}

/** Only the account holder or an admin may read or change an account (OWASP API1: BOLA). */
function assertSelfOrAdmin(caller: Principal, userId: string): void {
  if (caller.userId !== userId && !hasRole(caller.roles, 'admin')) throw forbidden()
}

/**
 * Merges schema errors with the rules a schema cannot express, so one 422 names every bad field
 * (the route validates with attachValidation to get here).
 */
function signupBody(ctx: AppContext, request: FastifyRequest): SignupBodyT {
  const body: unknown = request.body
  const schemaErrors =
    request.validationError === undefined
      ? []
      : (toAppError(request.validationError as FastifyError, request).errors ?? [])
  const fields =
    typeof body === 'object' && body !== null && !Array.isArray(body)
      ? (body as Record<string, unknown>)
      : {}
  const unchecked = Object.fromEntries(
    Object.entries(fields).filter(([name]) => !schemaErrors.some((e) => e.field === name)),
  )
  const errors: FieldError[] = [
    ...schemaErrors,
    ...reservedNameErrors(unchecked.username),
    ...accountRuleErrors(ctx, unchecked),
  ]
  if (errors.length > 0) throw invalid(errors)
  return body as SignupBodyT
}
