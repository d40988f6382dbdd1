/**
 * Makes text from the ID service safe for logs and error messages: printable ASCII only (no CR/LF,
 * ANSI escapes, quotes or backslashes, so it is also safe inside an RFC 6750 header value),
 * truncated.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3 (allowed characters)
 */
export function sanitizeForLog(value: unknown, maxLength = 200): string | undefined {
  if (typeof value !== 'string') return undefined;
  const cleaned = value.replace(/[^\x20-\x21\x23-\x5b\x5d-\x7e]/g, ' ').trim();
  return cleaned.length > maxLength ? `${cleaned.slice(0, maxLength)}...` : cleaned;
}
