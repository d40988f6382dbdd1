import type { FakeResponse } from './http-exchange.js';

/**
 * An OAuth error answer, thrown by the endpoints' checks and turned into the response.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.2
 */
export class OAuthError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly description: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(description);
    this.name = 'OAuthError';
  }

  /** The answer: RFC 6749 §5.2 JSON, never cached. */
  toResponse(): FakeResponse {
    return {
      status: this.status,
      headers: { 'cache-control': 'no-store', ...this.headers },
      body: { error: this.error, error_description: this.description },
    };
  }
}

/** Runs an endpoint, answering an {@link OAuthError} it throws as such. */
export async function answerOAuthErrors(
  endpoint: () => FakeResponse | Promise<FakeResponse>,
): Promise<FakeResponse> {
  try {
    return await endpoint();
  } catch (error) {
    if (error instanceof OAuthError) return error.toResponse();
    throw error;
  }
}

/** Parameters that may appear several times: `resource` (RFC 8707 §2). */
const REPEATABLE = new Set(['resource']);

/**
 * Parameters as single values (the first of a repeatable one); any other repeated parameter is
 * refused (RFC 6749 §3.1: parameters MUST NOT be included more than once).
 */
export function singleValued(params: URLSearchParams): Record<string, string> {
  const values: Record<string, string> = Object.create(null);
  for (const [name, value] of params) {
    if (name in values && REPEATABLE.has(name)) continue;
    if (name in values) {
      throw new OAuthError(400, 'invalid_request', `parameter "${safe(name)}" must appear once`);
    }
    values[name] = value;
  }
  return values;
}

/** A parameter name or value fit for an error description: printable ASCII, short. */
export function safe(value: string): string {
  return value.replace(/[^\x20-\x21\x23-\x5b\x5d-\x7e]/g, '?').slice(0, 64);
}
