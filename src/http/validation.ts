/**
 * Two Ajv instances: bodies are validated strictly (no type coercion, so `"5"` is not a number
 * and `true` is not a string), while path and query strings are coerced from text as HTTP sends
 * them. Every error is reported, not only the first, so a 422 can name every bad field.
 */
import { Ajv, type Options } from 'ajv'
import addFormatsModule from 'ajv-formats'
import type { FastifySchemaCompiler } from 'fastify'

// ajv-formats ships CommonJS; under NodeNext its default import is the module namespace.
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default

const shared: Options = {
  allErrors: true,
  removeAdditional: false,
  useDefaults: true,
  strict: false,
}

function makeAjv(options: Options): Ajv {
  const ajv = new Ajv({ ...shared, ...options })
  addFormats(ajv)
  return ajv
}

export function validatorCompiler(): FastifySchemaCompiler<unknown> {
  const strict = makeAjv({ coerceTypes: false })
  const lenient = makeAjv({ coerceTypes: 'array' })
  return ({ schema, httpPart }) => {
    const ajv = httpPart === 'body' ? strict : lenient
    return refusingNul(ajv.compile(schema as object))
  }
}

type Validate = ReturnType<Ajv['compile']>

/**
 * Wraps a validator so that no string anywhere in the input may hold a NUL character. PostgreSQL
 * text cannot store one (it fails the whole statement) and no field of the API needs one, so it
 * is refused for every route at the one place all input passes through.
 */
function refusingNul(validate: Validate): (data: unknown) => boolean {
  const check = (data: unknown): boolean => {
    if (!validate(data)) {
      check.errors = validate.errors
      return false
    }
    const path = nulPath(data, '')
    check.errors =
      path === undefined
        ? null
        : [
            {
              instancePath: path,
              schemaPath: '#',
              keyword: 'nul',
              params: {},
              message: 'must not contain NUL characters',
            },
          ]
    return path === undefined
  }
  check.errors = null as Validate['errors']
  return check
}

/** The JSON pointer of the first string holding a NUL, in values or keys. */
function nulPath(value: unknown, at: string): string | undefined {
  if (typeof value === 'string') return value.includes('\u0000') ? at : undefined
  if (typeof value !== 'object' || value === null) return undefined
  for (const [key, item] of Object.entries(value)) {
    if (key.includes('\u0000')) return at
    const found = nulPath(item, `${at}/${key}`)
    if (found !== undefined) return found
  }
  return undefined
}

/** A strict validator for data that arrives outside HTTP (the CLI, the bootstrap admin). */
export function strictValidator(schema: object): ReturnType<Ajv['compile']> {
  return makeAjv({ coerceTypes: false }).compile(schema)
}
