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
