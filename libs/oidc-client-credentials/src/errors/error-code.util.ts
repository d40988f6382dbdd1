import { sanitizeForLog } from './sanitize.util.js';

/**
 * The stable `code` of an error, for answers, events, status and logs: an `Error`'s string `code`
 * (this library's `OIDC_CC_*`, or another library's such as Node's `ECONNREFUSED`), sanitised
 * (printable ASCII, at most 60 characters) since it may come from outside the library.
 * `undefined` for anything else, which callers treat as unexpected.
 */
export function errorCode(error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? sanitizeForLog(code, 60) : undefined;
}
