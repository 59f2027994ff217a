import { Type, type TSchema } from '@sinclair/typebox';
import { ID_PATTERN } from '../platform/ids.js';

/** Schemas shared by every module's routes. */
export const Id = Type.String({ pattern: ID_PATTERN, description: 'Object id (UUID)' });

/** A single-line name or label: no control characters. */
export const Label = (maxLength: number, minLength = 1) =>
  Type.String({ minLength, maxLength, pattern: '^[^\\u0000-\\u001f\\u007f]*$' });

/** Text that may span lines but contains no NUL or other C0 controls besides tab and newlines. */
export const FreeText = (maxLength: number) =>
  Type.String({ maxLength, pattern: '^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f]*$' });

export const ErrorBody = Type.Object(
  {
    error: Type.Object(
      {
        code: Type.String(),
        message: Type.String(),
        field: Type.Optional(Type.String()),
      },
      { additionalProperties: true },
    ),
  },
  { $id: 'ErrorBody' },
);

/** Strict object: unknown fields are rejected with the field's name. */
export const Strict = <T extends Record<string, TSchema>>(properties: T) =>
  Type.Object(properties, { additionalProperties: false });

export const IsoTime = Type.String({ format: 'date-time' });

/** The response schema of a route that returns 204 with no body. */
export const NoContent = { 204: { description: 'No content', type: 'null' } };

/** Marks a route that needs no session in the OpenAPI document. */
export const PUBLIC = [] as Array<Record<string, string[]>>;

/** Formats a stored Unix-millisecond time for the API. */
export function toIso(ms: number): string;
export function toIso(ms: number | null): string | null;
export function toIso(ms: number | null): string | null {
  return ms === null ? null : new Date(Number(ms)).toISOString();
}
