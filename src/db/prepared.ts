/**
 * Compiles a query shape once and reuses its SQL with new parameters. Building and compiling a
 * Kysely query costs more than running it on SQLite; on the per-request hot paths (session check,
 * document load) the shape never changes, only the bound values do. Values are still passed as
 * bound parameters, never spliced into SQL text.
 */
import { randomBytes } from 'node:crypto'
import { CompiledQuery, type Compilable } from 'kysely'
import type { Db } from './schema.js'

export function prepareQuery<Args extends string[], Row>(
  db: Db,
  arity: Args['length'],
  build: (...args: Args) => Compilable<Row>,
): (...args: Args) => Promise<Row[]> {
  const tag = randomBytes(8).toString('hex')
  const sentinels = Array.from({ length: arity }, (_, i) => `rampart-param-${tag}-${i}`)
  const compiled = build(...(sentinels as Args)).compile()
  const slots = compiled.parameters.map((value) =>
    typeof value === 'string' ? sentinels.indexOf(value) : -1,
  )
  if (sentinels.some((_, i) => !slots.includes(i)))
    throw new Error('a prepared query lost a parameter')

  return async (...args: Args) => {
    const parameters = compiled.parameters.map((value, i) => {
      const slot = slots[i] ?? -1
      return slot < 0 ? value : args[slot]
    })
    const result = await db.executeQuery<Row>(CompiledQuery.raw(compiled.sql, parameters))
    return result.rows
  }
}
