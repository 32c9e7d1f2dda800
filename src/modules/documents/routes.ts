/**
 * Documents with owner and read/write shares. One loader fetches and authorizes together; a
 * document the caller cannot see answers 404 exactly like one that does not exist (OWASP API1).
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyInstance } from 'fastify'
import { Type } from 'typebox'
import { v7 as uuidv7 } from 'uuid'
import type { AppContext } from '../../context.js'
import { principalOf, recordEvent } from '../../http/authenticate.js'
import { AppError, forbidden, invalid, notFound } from '../../http/errors.js'
import { decodeCursor, pageOf } from '../../http/pagination.js'
import { Id, NoContent, Page, PageQuery, Timestamp, problems } from '../../http/schemas.js'
import { role, type Principal } from '../../security/access.js'
import { isoAt } from '../../security/clock.js'
import { findUserById } from '../accounts/store.js'
import {
  listVisibleDocuments,
  visibleDocumentQuery,
  type DocumentRow,
  type Permission,
} from './store.js'

export const CONTENT_MAX_BYTES = 1024 * 1024
const DOCUMENT_BODY_LIMIT = CONTENT_MAX_BYTES + 64 * 1024

const Title = Type.String({ minLength: 1, maxLength: 200 })
const Content = Type.String({ maxLength: CONTENT_MAX_BYTES, description: 'At most 1 MiB of UTF-8' })

const DocumentSchema = Type.Object({
  id: Id,
  owner_id: Id,
  title: Type.String(),
  content: Type.String(),
  permission: Type.Union([Type.Literal('owner'), Type.Literal('write'), Type.Literal('read')]),
  created_at: Timestamp,
  updated_at: Timestamp,
})

const CreateBody = Type.Object({ title: Title, content: Content }, { additionalProperties: false })
const UpdateBody = Type.Object(
  { title: Type.Optional(Title), content: Type.Optional(Content) },
  { additionalProperties: false, minProperties: 1 },
)
const ShareParams = Type.Object({ id: Id, user_id: Id }, { additionalProperties: false })
const ShareBody = Type.Object(
  { permission: Type.Union([Type.Literal('read'), Type.Literal('write')]) },
  { additionalProperties: false },
)
const ShareSchema = Type.Object({
  document_id: Id,
  user_id: Id,
  permission: Type.Union([Type.Literal('read'), Type.Literal('write')]),
  created_at: Timestamp,
})
const DocParams = Type.Object({ id: Id }, { additionalProperties: false })

const RANK: Record<Permission, number> = { read: 1, write: 2, owner: 3 }

/** Fetches a document and checks the caller's permission in one step: 404 unseen, 403 too weak. */
type DocumentLookup = (id: string, userId: string) => Promise<DocumentRow | undefined>

async function loadDocument(
  find: DocumentLookup,
  caller: Principal,
  id: string,
  need: Permission,
): Promise<DocumentRow> {
  const document = await find(id, caller.userId)
  if (document === undefined) throw notFound()
  if (RANK[document.permission] < RANK[need])
    throw forbidden(`This needs ${need} permission on the document`)
  return document
}

function assertContentSize(content: string | undefined): void {
  if (content !== undefined && Buffer.byteLength(content, 'utf8') > CONTENT_MAX_BYTES) {
    throw invalid([{ field: 'content', message: 'must be at most 1 MiB of UTF-8' }])
  }
}

export function documentRoutes(ctx: AppContext) {
  return async (plain: FastifyInstance): Promise<void> => {
    const app = plain.withTypeProvider<TypeBoxTypeProvider>()
    const secured = { tags: ['documents'], security: [{ bearer: [] }] }
    const find = visibleDocumentQuery(ctx.db)

    app.post(
      '/documents',
      {
        config: { policy: role('user') },
        bodyLimit: DOCUMENT_BODY_LIMIT,
        schema: {
          ...secured,
          body: CreateBody,
          response: { 201: DocumentSchema, ...problems(400, 401, 403, 413, 422) },
        },
      },
      async (request, reply) => {
        const caller = principalOf(request)
        assertContentSize(request.body.content)
        const now = isoAt(ctx.clock.now())
        const row = {
          id: uuidv7(),
          owner_id: caller.userId,
          title: request.body.title,
          content: request.body.content,
          created_at: now,
          updated_at: now,
        }
        await ctx.db.insertInto('documents').values(row).execute()
        return reply.code(201).send({ ...row, permission: 'owner' as const })
      },
    )

    app.get(
      '/documents',
      {
        config: { policy: role('viewer') },
        schema: {
          ...secured,
          querystring: PageQuery,
          response: { 200: Page(DocumentSchema), ...problems(401, 422) },
        },
      },
      async (request) => {
        const { limit, cursor } = request.query
        const rows = await listVisibleDocuments(
          ctx.db,
          principalOf(request).userId,
          decodeCursor(cursor),
          limit,
        )
        return pageOf(rows, limit)
      },
    )

    app.get(
      '/documents/:id',
      {
        config: { policy: role('viewer') },
        schema: {
          ...secured,
          params: DocParams,
          response: { 200: DocumentSchema, ...problems(401, 404) },
        },
      },
      (request) => loadDocument(find, principalOf(request), request.params.id, 'read'),
    )

    app.patch(
      '/documents/:id',
      {
        config: { policy: role('user') },
        bodyLimit: DOCUMENT_BODY_LIMIT,
        schema: {
          ...secured,
          params: DocParams,
          body: UpdateBody,
          response: { 200: DocumentSchema, ...problems(400, 401, 403, 404, 413, 422) },
        },
      },
      async (request) => {
        const caller = principalOf(request)
        assertContentSize(request.body.content)
        const document = await loadDocument(find, caller, request.params.id, 'write')
        const changes = { ...request.body, updated_at: isoAt(ctx.clock.now()) }
        await ctx.db.updateTable('documents').set(changes).where('id', '=', document.id).execute()
        return { ...document, ...changes }
      },
    )

    app.delete(
      '/documents/:id',
      {
        config: { policy: role('user') },
        schema: {
          ...secured,
          params: DocParams,
          response: { 204: NoContent, ...problems(401, 403, 404) },
        },
      },
      async (request, reply) => {
        const document = await loadDocument(find, principalOf(request), request.params.id, 'owner')
        await ctx.db.deleteFrom('documents').where('id', '=', document.id).execute()
        await recordEvent(ctx, request, {
          type: 'document_deleted',
          outcome: 'success',
          details: { document_id: document.id },
        })
        return reply.code(204).send(null)
      },
    )

    app.put(
      '/documents/:id/shares/:user_id',
      {
        config: { policy: role('user') },
        schema: {
          ...secured,
          params: ShareParams,
          body: ShareBody,
          response: { 200: ShareSchema, ...problems(400, 401, 403, 404, 422) },
        },
      },
      async (request) => {
        const caller = principalOf(request)
        const document = await loadDocument(find, caller, request.params.id, 'owner')
        const target = request.params.user_id
        if (target === document.owner_id)
          throw invalid([{ field: 'user_id', message: 'is the owner' }])
        if ((await findUserById(ctx.db, target)) === undefined)
          throw new AppError('RAMPART_HTTP_NOT_FOUND', 'No such user')
        const share = {
          document_id: document.id,
          user_id: target,
          permission: request.body.permission,
          created_at: isoAt(ctx.clock.now()),
        }
        await ctx.db
          .insertInto('document_shares')
          .values(share)
          .onConflict((oc) =>
            oc.columns(['document_id', 'user_id']).doUpdateSet({ permission: share.permission }),
          )
          .execute()
        await recordEvent(ctx, request, {
          type: 'document_shared',
          outcome: 'success',
          details: {
            document_id: document.id,
            target_user_id: target,
            permission: share.permission,
          },
        })
        const stored = await ctx.db
          .selectFrom('document_shares')
          .selectAll()
          .where('document_id', '=', document.id)
          .where('user_id', '=', target)
          .executeTakeFirstOrThrow()
        return stored
      },
    )

    app.delete(
      '/documents/:id/shares/:user_id',
      {
        config: { policy: role('user') },
        schema: {
          ...secured,
          params: ShareParams,
          response: { 204: NoContent, ...problems(401, 403, 404) },
        },
      },
      async (request, reply) => {
        const document = await loadDocument(find, principalOf(request), request.params.id, 'owner')
        const removed = await ctx.db
          .deleteFrom('document_shares')
          .where('document_id', '=', document.id)
          .where('user_id', '=', request.params.user_id)
          .executeTakeFirst()
        if (removed.numDeletedRows === 0n)
          throw new AppError('RAMPART_HTTP_NOT_FOUND', 'No such share')
        const details = { document_id: document.id, target_user_id: request.params.user_id }
        await recordEvent(ctx, request, { type: 'document_unshared', outcome: 'success', details })
        return reply.code(204).send(null)
      },
    )
  }
}
