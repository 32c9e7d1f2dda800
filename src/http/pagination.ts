/** Keyset pagination over time-ordered UUIDv7 ids: the cursor is the last id, made opaque. */
import { AppError } from './errors.js'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

export function encodeCursor(id: string): string {
  return Buffer.from(id, 'utf8').toString('base64url')
}

/** Decodes a cursor; an altered or foreign cursor is a 422, never a database error. */
export function decodeCursor(cursor: string | undefined): string | undefined {
  if (cursor === undefined) return undefined
  const id = Buffer.from(cursor, 'base64url').toString('utf8')
  if (!UUID.test(id)) {
    throw new AppError('RAMPART_HTTP_VALIDATION', 'One or more fields are invalid', [
      { field: 'cursor', message: 'is not a valid cursor' },
    ])
  }
  return id
}

/** Given limit+1 rows, returns the page and the cursor to the next one. */
export function pageOf<T extends { id: string }>(
  rows: T[],
  limit: number,
): { items: T[]; next_cursor: string | null } {
  const items = rows.slice(0, limit)
  const last = items.at(-1)
  return {
    items,
    next_cursor: rows.length > limit && last !== undefined ? encodeCursor(last.id) : null,
  }
}
