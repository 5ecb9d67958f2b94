import { describe, expect, it } from 'vitest';
import { PermanentError, RetryableError, WorkerError } from './errors.js';
import { deserializeError, serializeError } from './thread-errors.js';

/** What a thread's error becomes on the pool's side: through structured clone, as postMessage sends it. */
const across = (error: unknown): Error => deserializeError(structuredClone(serializeError(error)));

describe('errors crossing the thread boundary', () => {
  it('keep their WorkerError class, code, message, stack and cause', () => {
    const cause = new RangeError('width 0');
    const original = new PermanentError('INVALID_IMAGE', 'not a photo', { cause });
    const rebuilt = across(original);
    expect(rebuilt).toBeInstanceOf(PermanentError);
    expect(rebuilt).toMatchObject({ code: 'INVALID_IMAGE', message: 'not a photo', retryable: false, stack: original.stack });
    expect(rebuilt.cause).toMatchObject({ name: 'RangeError', message: 'width 0' });
    const retryable = across(new RetryableError('STORAGE', 'disk busy'));
    expect(retryable).toBeInstanceOf(RetryableError);
    expect((retryable as WorkerError).retryable).toBe(true);
  });

  it('leave anything else a plain Error with its name, never a WorkerError', () => {
    const rebuilt = across(new TypeError('x is not a function'));
    expect(rebuilt).not.toBeInstanceOf(WorkerError);
    expect(rebuilt).toMatchObject({ name: 'TypeError', message: 'x is not a function' });
    expect(across('a string thrown')).toMatchObject({ name: 'Error', message: 'a string thrown' });
    expect(across(new Error('wrapped', { cause: 42 })).cause).toMatchObject({ message: '42' });
  });
});
