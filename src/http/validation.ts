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
    return ajv.compile(schema as object)
  }
}

/** A strict validator for data that arrives outside HTTP (the CLI, the bootstrap admin). */
export function strictValidator(schema: object): ReturnType<Ajv['compile']> {
  return makeAjv({ coerceTypes: false }).compile(schema)
}
