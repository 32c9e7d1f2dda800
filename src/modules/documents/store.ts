/** Document and share queries. Visibility is decided in the same query that reads the row. */
import type { Selectable } from 'kysely'
import type { Db, DocumentsTable } from '../../db/schema.js'

export type Permission = 'owner' | 'write' | 'read'
export type DocumentRow = Selectable<DocumentsTable> & { permission: Permission }

/** The document with the caller's permission, or undefined when the caller cannot see it. */
export async function findVisibleDocument(db: Db, id: string, userId: string): Promise<DocumentRow | undefined> {
  const row = await db
    .selectFrom('documents')
    .leftJoin('document_shares', (join) =>
      join.onRef('document_shares.document_id', '=', 'documents.id').on('document_shares.user_id', '=', userId),
    )
    .selectAll('documents')
    .select('document_shares.permission as share')
    .where('documents.id', '=', id)
    .where((eb) => eb.or([eb('documents.owner_id', '=', userId), eb('document_shares.user_id', '=', userId)]))
    .executeTakeFirst()
  if (row === undefined) return undefined
  const { share, ...document } = row
  return { ...document, permission: document.owner_id === userId ? 'owner' : (share ?? 'read') }
}

/** The caller's own and shared documents, in id (creation) order, one page plus one row. */
export async function listVisibleDocuments(db: Db, userId: string, afterId: string | undefined, limit: number): Promise<DocumentRow[]> {
  let query = db
    .selectFrom('documents')
    .leftJoin('document_shares', (join) =>
      join.onRef('document_shares.document_id', '=', 'documents.id').on('document_shares.user_id', '=', userId),
    )
    .selectAll('documents')
    .select('document_shares.permission as share')
    .where((eb) => eb.or([eb('documents.owner_id', '=', userId), eb('document_shares.user_id', '=', userId)]))
    .orderBy('documents.id')
    .limit(limit + 1)
  if (afterId !== undefined) query = query.where('documents.id', '>', afterId)
  const rows = await query.execute()
  return rows.map(({ share, ...d }) => ({ ...d, permission: d.owner_id === userId ? 'owner' : (share ?? 'read') }))
}
