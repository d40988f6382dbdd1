import * as oauth from 'oauth4webapi';

/**
 * Whether oauth4webapi refused a response as `INVALID_RESPONSE` although its body is a JSON object:
 * the ID service did answer, but a member the answer needs is missing or of the wrong type
 * (introspection's boolean `active`, userinfo's `sub`). An answer about the token, not a
 * failing endpoint (a body that is not a JSON object is one).
 */
export function isInvalidJsonObjectResponse(error: unknown): boolean {
  if (!(error instanceof oauth.OperationProcessingError)) return false;
  if (error.code !== oauth.INVALID_RESPONSE) return false;
  const body = (error.cause as { body?: unknown } | undefined)?.body;
  return typeof body === 'object' && body !== null && !Array.isArray(body);
}
