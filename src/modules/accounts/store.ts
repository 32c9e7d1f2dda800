/** Account queries. Every value is a bound parameter; LIKE patterns are escaped. */
import type { Selectable } from 'kysely'
import { sql } from 'kysely'
import type { Db, UsersTable } from '../../db/schema.js'

export type UserRow = Selectable<UsersTable>

export function findUserById(db: Db, id: string): Promise<UserRow | undefined> {
  return db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst()
}

export function findUserByUsername(db: Db, username: string): Promise<UserRow | undefined> {
  return db
    .selectFrom('users')
    .selectAll()
    .where('username_lower', '=', username.toLowerCase())
    .executeTakeFirst()
}

export function findUserByEmail(db: Db, email: string): Promise<UserRow | undefined> {
  return db
    .selectFrom('users')
    .selectAll()
    .where('email_lower', '=', email.toLowerCase())
    .executeTakeFirst()
}

export async function insertUser(db: Db, row: UserRow): Promise<void> {
  await db.insertInto('users').values(row).execute()
}

export async function hasAdmin(db: Db): Promise<boolean> {
  const row = await db
    .selectFrom('users')
    .select('id')
    .where('roles', 'like', '%"admin"%')
    .where('is_active', '=', 1)
    .limit(1)
    .executeTakeFirst()
  return row !== undefined
}

/** Escapes LIKE wildcards so `%`, `_` and `\` in a search match themselves. */
export function likeLiteral(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`)
}

/** Usernames containing q as a plain substring, case-insensitively, in id order. */
export function searchUsernames(db: Db, q: string, afterId: string | undefined, limit: number) {
  const pattern = `%${likeLiteral(q.toLowerCase())}%`
  let query = db
    .selectFrom('users')
    .select(['id', 'username'])
    .where(sql<boolean>`username_lower like ${pattern} escape '\\'`)
    .orderBy('id')
    .limit(limit + 1)
  if (afterId !== undefined) query = query.where('id', '>', afterId)
  return query.execute()
}

export function listUsers(db: Db, afterId: string | undefined, limit: number): Promise<UserRow[]> {
  let query = db
    .selectFrom('users')
    .selectAll()
    .orderBy('id')
    .limit(limit + 1)
  if (afterId !== undefined) query = query.where('id', '>', afterId)
  return query.execute()
}
