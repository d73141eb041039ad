/** Assertions on netcrypt's errors for the Tor tests. */

import assert from 'node:assert/strict';
import { NetcryptError } from '../../src/errors.ts';

/** Asserts that `promise` rejects with a NetcryptError of `code` whose message matches `message`; returns the error. */
export async function rejectsWith(promise: Promise<unknown>, code: string, message?: RegExp): Promise<NetcryptError> {
  let caught: unknown;
  await assert.rejects(promise, (error) => {
    caught = error;
    return true;
  });
  assert.ok(caught instanceof NetcryptError, `expected a NetcryptError, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  if (message) assert.match(caught.message, message);
  return caught;
}

/** The same for functions that throw synchronously. */
export function throwsWith(fn: () => unknown, code: string, message?: RegExp): void {
  assert.throws(fn, (error) => {
    assert.ok(error instanceof NetcryptError, `expected a NetcryptError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    if (message) assert.match(error.message, message);
    return true;
  });
}
