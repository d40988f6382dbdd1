import { errorCode } from './error-code.util.js';
import { sanitizeForLog } from './sanitize.util.js';

/** The part of a library error that is safe to keep as `cause`: its name, code and message. */
export interface SafeCause {
  name: string;
  code?: string;
  message: string;
}

/**
 * Reduces an error from jose, oauth4webapi or fetch to its name, code and message, sanitised.
 * Those errors may carry the claims, the response body or the request in their own `cause` or
 * fields; none of that is kept, so the result can be logged or serialised.
 */
export function safeCause(error: unknown): SafeCause {
  if (!(error instanceof Error)) return { name: typeof error, message: 'non-error thrown' };
  const code = errorCode(error);
  return {
    name: sanitizeForLog(error.name, 60) ?? 'Error',
    ...(code === undefined ? {} : { code }),
    message: sanitizeForLog(error.message) ?? '',
  };
}

/**
 * A member of an error-like value, or `undefined`. Duck-typed: errors of fetch and undici may come
 * from another realm (a test VM) and fail `instanceof`.
 */
export function errorProperty(value: unknown, name: string): unknown {
  return typeof value === 'object' && value !== null
    ? (value as Record<string, unknown>)[name]
    : undefined;
}

/** A string member of an error-like value (`name`, `message`, `code`), or `undefined`. */
export function errorField(value: unknown, name: string): string | undefined {
  const found = errorProperty(value, name);
  return typeof found === 'string' ? found : undefined;
}
