import {
  buildBearerChallenge,
  isScopeToken,
  type BearerChallenge,
  type BearerErrorCode,
} from './www-authenticate.util.js';

/** RFC 6750 §3: every attribute value within %x20-21 / %x23-5B / %x5D-7E. */
const WELL_FORMED =
  /^Bearer [a-z_]+="[\x20\x21\x23-\x5b\x5d-\x7e]*"(, [a-z_]+="[\x20\x21\x23-\x5b\x5d-\x7e]*")*$/;

/** Attribute names in order, reading each quoted value as a whole (as a client's parser does). */
function attributeNames(header: string): string[] {
  const attribute = /(?:^Bearer |, )([a-z_]+)="[^"]*"/y;
  const names: string[] = [];
  let consumed = 0;
  let match: RegExpExecArray | null;
  while ((match = attribute.exec(header))) {
    names.push(match[1]);
    consumed = attribute.lastIndex;
  }
  expect(consumed).toBe(header.length);
  return names;
}

describe('buildBearerChallenge', () => {
  it.each<[string, BearerChallenge, string]>([
    ['S01 no credentials: realm only', { realm: 'api' }, 'Bearer realm="api"'],
    [
      'S03 invalid_request',
      {
        realm: 'api',
        error: 'invalid_request',
        errorDescription: 'Malformed bearer token request',
      },
      'Bearer realm="api", error="invalid_request", error_description="Malformed bearer token request"',
    ],
    [
      'invalid_token',
      { realm: 'orders', error: 'invalid_token', errorDescription: 'The access token expired' },
      'Bearer realm="orders", error="invalid_token", error_description="The access token expired"',
    ],
    [
      'S53 insufficient_scope lists the required scopes',
      {
        realm: 'api',
        error: 'insufficient_scope',
        errorDescription: 'The access token lacks a required scope',
        scope: ['orders:read', 'orders:write'],
      },
      'Bearer realm="api", error="insufficient_scope", error_description="The access token lacks a required scope", scope="orders:read orders:write"',
    ],
    [
      'no description',
      { realm: 'api', error: 'invalid_token' },
      'Bearer realm="api", error="invalid_token"',
    ],
    [
      'an unknown error code is dropped',
      { realm: 'api', error: 'x", injected="1' as BearerErrorCode, errorDescription: 'd' },
      'Bearer realm="api"',
    ],
    [
      'repeated scopes appear once',
      { realm: 'api', error: 'insufficient_scope', scope: ['a', 'a', 'b'] },
      'Bearer realm="api", error="insufficient_scope", scope="a b"',
    ],
  ])('%s', (_name, challenge, expected) => {
    expect(buildBearerChallenge(challenge)).toBe(expected);
  });

  it.each<[string, BearerChallenge]>([
    [
      'quote and backslash in the description',
      { realm: 'api', error: 'invalid_token', errorDescription: 'a"b\\c' },
    ],
    [
      'CR/LF in the description',
      { realm: 'api', error: 'invalid_token', errorDescription: 'a\r\nSet-Cookie: x=1' },
    ],
    ['quote in the realm', { realm: 'a", error="invalid_token', error: 'invalid_request' }],
    ['CR/LF and NUL in the realm', { realm: 'a\r\n\0b' }],
    [
      'non-ASCII in the description',
      { realm: 'api', error: 'invalid_token', errorDescription: 'caf\u00e9 \u2028' },
    ],
    [
      'space, quote and backslash in a scope',
      { realm: 'api', error: 'insufficient_scope', scope: ['a b', 'c"d', 'e\\f', ''] },
    ],
    [
      'ANSI escape in the description',
      { realm: 'api', error: 'invalid_token', errorDescription: '\u001b[31mred' },
    ],
  ])('S56 stays well-formed: %s', (_name, challenge) => {
    const header = buildBearerChallenge(challenge);
    expect(header).toMatch(WELL_FORMED);
    const names = attributeNames(header);
    expect(new Set(names).size).toBe(names.length);
  });

  it('S56 truncates a long description', () => {
    const header = buildBearerChallenge({
      realm: 'api',
      error: 'invalid_token',
      errorDescription: 'x'.repeat(5000),
    });
    expect(header.length).toBeLessThan(300);
  });
});

describe('isScopeToken', () => {
  it.each([
    ['orders:read', true],
    ['https://api.example.com/orders.read', true],
    ['', false],
    ['a b', false],
    ['a"b', false],
    ['a\\b', false],
    ['caf\u00e9', false],
  ])('%j → %s', (value, expected) => {
    expect(isScopeToken(value)).toBe(expected);
  });
});
