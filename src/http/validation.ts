import { Ajv, type Options } from 'ajv';
import addFormats from 'ajv-formats';
import type { FastifySchemaCompiler } from 'fastify';

const COMMON: Options = {
  removeAdditional: false,
  useDefaults: true,
  allErrors: false,
  strict: false,
};

/**
 * Builds the schema compiler: bodies are checked as sent (a string is never
 * taken for a number), while path and query values, which arrive as text,
 * are converted to the schema's types.
 */
export function createValidatorCompiler(): FastifySchemaCompiler<unknown> {
  const strictAjv = new Ajv({ ...COMMON, coerceTypes: false });
  const coercingAjv = new Ajv({ ...COMMON, coerceTypes: 'array' });
  addFormats.default(strictAjv);
  addFormats.default(coercingAjv);

  return ({ schema, httpPart }) => {
    const ajv = httpPart === 'body' ? strictAjv : coercingAjv;
    return ajv.compile(schema as object) as ReturnType<FastifySchemaCompiler<unknown>>;
  };
}
