import { expect } from 'vitest';
import type { RawResponse } from '../../src/client/api.js';

/** Checks a response's status, error code and, when given, the field it names. */
export function expectError(response: RawResponse, status: number, code: string, field?: string): void {
  expect(response.status).toBe(status);
  const error = (response.body as { error: { code: string; field?: string } }).error;
  expect(error.code).toBe(code);
  if (field !== undefined) expect(error.field).toBe(field);
}
