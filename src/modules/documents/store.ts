/** Document and share queries. Visibility is decided in the same query that reads the row. */
import type { Selectable } from 'kysely'
import type { Db, DocumentsTable } from '../../db/schema.js'
import { prepareQuery } from '../../db/prepared.js'

export type Permission = 'owner' | 'write' | 'read'
export type DocumentRow = Selectable<DocumentsTable> & { permission: Permission }

/** A lookup of a document with the caller's permission, undefined when the caller cannot see it. */
export function visibleDocumentQuery(
  db: Db,
): (id: string, userId: string) => Promise<DocumentRow | undefined> {
  const query = prepareQuery(db, 2, (id: string, userId: string) =>
    db
      .selectFrom('documents')
      .leftJoin('document_shares', (join) =>
        join
          .onRef('document_shares.document_id', '=', 'documents.id')
          .on('document_shares.user_id', '=', userId),
      )
      .selectAll('documents')
      .select('document_shares.permission as share')
      .where('documents.id', '=', id)
      .where((eb) =>
        eb.or([eb('documents.owner_id', '=', userId), eb('document_shares.user_id', '=', userId)]),
      ),
  )
  return async (id, userId) => {
    const row = (await query(id, userId))[0]
    if (row === undefined) return undefined
    const { share, ...document } = row
    return { ...document, permission: document.owner_id === userId ? 'owner' : (share ?? 'read') }
  }
}

/** The caller's own and shared documents, in id (creation) order, one page plus one row. */
export async function listVisibleDocuments(
  db: Db,
  userId: string,
  afterId: string | undefined,
  limit: number,
): Promise<DocumentRow[]> {
  let query = db
    .selectFrom('documents')
    .leftJoin('document_shares', (join) =>
      join
        .onRef('document_shares.document_id', '=', 'documents.id')
        .on('document_shares.user_id', '=', userId),
    )
    .selectAll('documents')
    .select('document_shares.permission as share')
    .where((eb) =>
      eb.or([eb('documents.owner_id', '=', userId), eb('document_shares.user_id', '=', userId)]),
    )
    .orderBy('documents.id')
    .limit(limit + 1)
  if (afterId !== undefined) query = query.where('documents.id', '>', afterId)
  const rows = await query.execute()
  return rows.map(({ share, ...d }) => ({
    ...d,
    permission: d.owner_id === userId ? 'owner' : (share ?? 'read'),
  }))
}
