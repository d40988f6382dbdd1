import { BearerRequestError } from '../errors/bearer-request.error.js';
import { TokenVerificationError } from '../errors/token-verification.error.js';
import type { TokenLocation } from '../options/oidc-client-credentials-options.interface.js';
import {
  bearerRequestParts,
  extractBearerToken,
  type BearerRequestParts,
} from './bearer-token.util.js';

const TOKEN = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJiaWxsaW5nIn0.c2lnbmF0dXJl';
const FORM = 'application/x-www-form-urlencoded';

function parts(overrides: Partial<BearerRequestParts> = {}): BearerRequestParts {
  return { method: 'GET', authorization: [], url: '/orders', ...overrides };
}

function extract(
  request: Partial<BearerRequestParts>,
  locations: TokenLocation[] = ['header'],
  maxTokenLength = 8192,
) {
  return extractBearerToken(parts(request), { locations, maxTokenLength });
}

function outcome(fn: () => string | undefined): string {
  try {
    const token = fn();
    return token === undefined ? 'none' : `token:${token}`;
  } catch (error) {
    if (error instanceof BearerRequestError) return `400:${error.reason}`;
    if (error instanceof TokenVerificationError) return `401:${error.code}`;
    throw error;
  }
}

describe('extractBearerToken', () => {
  it.each<[string, Partial<BearerRequestParts>, TokenLocation[], string]>([
    ['S01 no Authorization header', {}, ['header'], 'none'],
    ['S02 Basic scheme', { authorization: ['Basic dXNlcjpwYXNz'] }, ['header'], 'none'],
    ['S02 scheme glued to the token', { authorization: [`Bearer${TOKEN}`] }, ['header'], 'none'],
    ['S02 tab instead of space', { authorization: [`Bearer\t${TOKEN}`] }, ['header'], 'none'],
    ['S03 Bearer without token', { authorization: ['Bearer'] }, ['header'], '400:empty_token'],
    ['S03 Bearer and spaces', { authorization: ['Bearer   '] }, ['header'], '400:empty_token'],
    ['S04 lower-case scheme', { authorization: [`bearer ${TOKEN}`] }, ['header'], `token:${TOKEN}`],
    ['S04 upper-case scheme', { authorization: [`BEARER ${TOKEN}`] }, ['header'], `token:${TOKEN}`],
    ['S04 several spaces', { authorization: [`Bearer    ${TOKEN}`] }, ['header'], `token:${TOKEN}`],
    ['S04 padding', { authorization: ['Bearer abc+/=='] }, ['header'], 'token:abc+/=='],
    ['S05 brace', { authorization: ['Bearer {"a":1}'] }, ['header'], '401:OIDC_CC_TOKEN_MALFORMED'],
    ['S05 quote', { authorization: ['Bearer ab"c'] }, ['header'], '401:OIDC_CC_TOKEN_MALFORMED'],
    ['S05 space', { authorization: ['Bearer abc def'] }, ['header'], '401:OIDC_CC_TOKEN_MALFORMED'],
    ['S05 comma', { authorization: ['Bearer abc,def'] }, ['header'], '401:OIDC_CC_TOKEN_MALFORMED'],
    [
      'S05 percent',
      { authorization: ['Bearer abc%20'] },
      ['header'],
      '401:OIDC_CC_TOKEN_MALFORMED',
    ],
    ['S05 = inside', { authorization: ['Bearer ab=c'] }, ['header'], '401:OIDC_CC_TOKEN_MALFORMED'],
    [
      'S05 non-ASCII',
      { authorization: ['Bearer abc\u00e9'] },
      ['header'],
      '401:OIDC_CC_TOKEN_MALFORMED',
    ],
    [
      'S06 header and query',
      { authorization: [`Bearer ${TOKEN}`], url: `/orders?access_token=${TOKEN}` },
      ['header', 'query'],
      '400:multiple_methods',
    ],
    [
      'S06 header and body',
      {
        method: 'POST',
        authorization: [`Bearer ${TOKEN}`],
        contentType: FORM,
        body: { access_token: TOKEN },
      },
      ['header', 'body'],
      '400:multiple_methods',
    ],
    [
      'S06 query and body',
      {
        method: 'POST',
        url: `/orders?access_token=${TOKEN}`,
        contentType: `${FORM}; charset=utf-8`,
        body: { access_token: TOKEN },
      },
      ['query', 'body'],
      '400:multiple_methods',
    ],
    ['S07 query when disabled', { url: `/orders?access_token=${TOKEN}` }, ['header'], 'none'],
    [
      'S07 header wins when the query is not a method',
      { authorization: [`Bearer ${TOKEN}`], url: '/orders?access_token=other' },
      ['header'],
      `token:${TOKEN}`,
    ],
    ['query when enabled', { url: `/orders?access_token=${TOKEN}` }, ['query'], `token:${TOKEN}`],
    [
      'query with an encoded name',
      { url: `/orders?access%5Ftoken=${TOKEN}` },
      ['query'],
      `token:${TOKEN}`,
    ],
    [
      'query repeated',
      { url: `/orders?access_token=${TOKEN}&access_token=${TOKEN}` },
      ['query'],
      '400:duplicate_parameter',
    ],
    ['query empty', { url: '/orders?access_token=' }, ['query'], '400:empty_token'],
    [
      'body when enabled',
      { method: 'POST', contentType: FORM, body: { access_token: TOKEN } },
      ['body'],
      `token:${TOKEN}`,
    ],
    [
      'body repeated',
      { method: 'POST', contentType: FORM, body: { access_token: [TOKEN, TOKEN] } },
      ['body'],
      '400:duplicate_parameter',
    ],
    [
      'body with GET',
      { method: 'GET', contentType: FORM, body: { access_token: TOKEN } },
      ['body'],
      'none',
    ],
    [
      'body as JSON',
      { method: 'POST', contentType: 'application/json', body: { access_token: TOKEN } },
      ['body'],
      'none',
    ],
    [
      'body when disabled',
      { method: 'POST', contentType: FORM, body: { access_token: TOKEN } },
      ['header'],
      'none',
    ],
    [
      'S08 two Authorization headers',
      { authorization: [`Bearer ${TOKEN}`, `Bearer ${TOKEN}`] },
      ['header'],
      '400:duplicate_authorization_header',
    ],
    [
      'S08 Basic and Bearer headers',
      { authorization: ['Basic dXNlcjpwYXNz', `Bearer ${TOKEN}`] },
      ['header'],
      '400:duplicate_authorization_header',
    ],
  ])('%s', (_name, request, locations, expected) => {
    expect(outcome(() => extract(request, locations))).toBe(expected);
  });

  it.each([
    ['S09 100 KB token', 'a'.repeat(100 * 1024)],
    ['S09 50 000 dots', '.'.repeat(50_000)],
    ['S09 one character over the cap', 'a'.repeat(8193)],
  ])('%s is refused by length before anything else', (_name, token) => {
    expect(outcome(() => extract({ authorization: [`Bearer ${token}`] }))).toBe(
      '401:OIDC_CC_TOKEN_MALFORMED',
    );
  });

  it('accepts a token exactly at the cap', () => {
    const token = 'a'.repeat(8192);
    expect(extract({ authorization: [`Bearer ${token}`] })).toBe(token);
  });

  it('uses the configured cap', () => {
    expect(outcome(() => extract({ authorization: ['Bearer abcdef'] }, ['header'], 5))).toBe(
      '401:OIDC_CC_TOKEN_MALFORMED',
    );
  });

  it('never puts the token into an error message', () => {
    const secret = 'secret-token-value{';
    for (const request of [
      { authorization: [`Bearer ${secret}`] },
      { authorization: [`Bearer ${secret}`, `Bearer ${secret}`] },
      { authorization: [`Bearer ${secret}`], url: `/?access_token=${secret}` },
    ]) {
      try {
        extract(request, ['header', 'query']);
        throw new Error('expected a refusal');
      } catch (error) {
        expect((error as Error).message).not.toContain('secret-token-value');
      }
    }
  });
});

describe('bearerRequestParts', () => {
  it('S08 sees every Authorization line of a Node request', () => {
    const request = {
      method: 'get',
      url: '/orders?x=1',
      headers: { authorization: 'Bearer a', 'content-type': FORM },
      rawHeaders: ['Host', 'x', 'Authorization', 'Bearer a', 'AUTHORIZATION', 'Bearer b'],
    };
    const parts = bearerRequestParts(request);
    expect({
      method: parts.method,
      authorization: parts.authorization,
      url: parts.url,
      contentType: parts.contentType,
      body: parts.body,
    }).toEqual({
      method: 'GET',
      authorization: ['Bearer a', 'Bearer b'],
      url: '/orders?x=1',
      contentType: FORM,
      body: undefined,
    });
  });

  it("reads a Fastify request's raw Node request", () => {
    const request = {
      method: 'POST',
      url: '/orders',
      body: { access_token: 'x' },
      raw: { headers: {}, rawHeaders: ['authorization', 'Bearer a'], url: '/orders' },
    };
    const parts = bearerRequestParts(request);
    expect([parts.method, parts.authorization, parts.body]).toEqual([
      'POST',
      ['Bearer a'],
      { access_token: 'x' },
    ]);
  });

  it("prefers Express's originalUrl over a rewritten url", () => {
    const request = { method: 'GET', url: '/', originalUrl: '/api/orders?access_token=x' };
    expect(bearerRequestParts(request).url).toBe('/api/orders?access_token=x');
  });
});
