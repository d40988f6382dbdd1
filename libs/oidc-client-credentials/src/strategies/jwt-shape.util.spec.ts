import { TokenVerificationError } from '../errors/token-verification.error.js';
import { parseCompactJws } from './jwt-shape.util.js';

// A header is decoded once per distinct header segment; every token is still checked whole.

const MAX = 8192;
const b64 = (part: string) => Buffer.from(part).toString('base64url');
const header = b64('{"alg":"ES256","kid":"k1"}');
const payload = b64('{"sub":"billing"}');
const signature = b64('signature bytes');

function code(token: string): string | undefined {
  try {
    parseCompactJws(token, MAX);
    return undefined;
  } catch (error) {
    if (!(error instanceof TokenVerificationError)) throw error;
    return error.code;
  }
}

describe('parseCompactJws with a header seen before', () => {
  beforeAll(() => {
    expect(code(`${header}.${payload}.${signature}`)).toBeUndefined();
  });

  it.each([
    ['a payload with a character outside base64url', `${header}.${payload}+.${signature}`],
    ['a signature with a character outside base64url', `${header}.${payload}.${signature}/`],
    ['an empty signature', `${header}.${payload}.`],
    ['an empty payload', `${header}..${signature}`],
    ['a payload of 4n+1 characters', `${header}.${b64('{"sub":"billing1"}')}A.${signature}`],
    ['four segments', `${header}.${payload}.${signature}.${signature}`],
  ])('%s is still malformed', (_case, token) => {
    expect(code(token)).toBe('OIDC_CC_TOKEN_MALFORMED');
  });

  it('answers the same header for every token that shares it, frozen', () => {
    const first = parseCompactJws(`${header}.${payload}.${signature}`, MAX).header;
    const second = parseCompactJws(`${header}.${b64('{"sub":"other"}')}.${signature}`, MAX);
    expect(second.header).toBe(first);
    expect(second.header).toEqual({ alg: 'ES256', kid: 'k1' });
    expect(Object.isFrozen(first)).toBe(true);
    expect(second.encodedPayload).toBe(b64('{"sub":"other"}'));
  });

  it.each([
    ['a header naming a member twice', b64('{"alg":"ES256","alg":"none"}')],
    ['a header without alg', b64('{"kid":"k1"}')],
    ['a header whose kid is a number', b64('{"alg":"ES256","kid":1}')],
  ])('%s is refused every time it is sent', (_case, refused) => {
    for (let i = 0; i < 3; i += 1) {
      expect(code(`${refused}.${payload}.${signature}`)).toBe('OIDC_CC_TOKEN_MALFORMED');
    }
  });
});
