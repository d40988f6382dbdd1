import { BearerRequestError } from '../../errors/bearer-request.error.js';

/** The name under which every transport carries the credentials (`Authorization` in HTTP). */
export const AUTHORIZATION = 'authorization';

/**
 * The `authorization` values of a header collection that is not a Node request: a plain object
 * (any case; arrays and bytes accepted), something with `values(name)` (NATS) or `get(name)` (a
 * Map), or the array gRPC's `Metadata.get()` returns. Every value is returned, so credentials sent
 * twice are refused as malformed; a value that is neither a string nor bytes is refused too.
 */
export function headerValues(headers: unknown): string[] {
  if (headers === undefined || headers === null) return [];
  if (Array.isArray(headers)) return headers.map((value) => headerText(value));
  if (!isObject(headers)) throw invalidCredentials('the message metadata');
  const collection = headers as {
    values?: (key: string) => unknown;
    get?: (key: string) => unknown;
  };
  if (typeof collection.values === 'function' && !(headers instanceof Map)) {
    // nats.js matches names exactly by default: the lower-case name, else the canonical one.
    const lines = listValues(collection.values(AUTHORIZATION));
    return lines.length > 0 ? lines : listValues(collection.values('Authorization'));
  }
  if (typeof collection.get === 'function') return listValues(collection.get(AUTHORIZATION));
  const lines: string[] = [];
  for (const [name, value] of Object.entries(headers)) {
    if (name.length === 13 && name.toLowerCase() === AUTHORIZATION) {
      lines.push(...listValues(value));
    }
  }
  return lines;
}

/** Credentials that are not a string where a transport carries them: 400 `invalid_request`. */
export function invalidCredentials(where: string): BearerRequestError {
  return new BearerRequestError(
    'OIDC_CC_BEARER_REQUEST_INVALID',
    'not_a_string',
    `The credentials in ${where} are not a string`,
  );
}

/** Whether an untyped transport value is an object that can be read or carry a verified token. */
export function isObject(value: unknown): value is object {
  return typeof value === 'object' && value !== null;
}

function listValues(value: unknown): string[] {
  if (value === undefined || value === null || value === '') return [];
  return Array.isArray(value) ? value.map((v) => headerText(v)) : [headerText(value)];
}

function headerText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value instanceof Uint8Array) return Buffer.from(value).toString('utf8');
  throw invalidCredentials('the message metadata');
}
