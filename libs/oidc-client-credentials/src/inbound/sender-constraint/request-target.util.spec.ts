import { describe, expect, it } from '@jest/globals';
import { normalizeHtu } from './dpop-proof.util.js';
import { requestTarget } from './request-target.util.js';

/** A Node request as the guard sees it. */
function request(
  url: string,
  headers: Record<string, string>,
  options: { encrypted?: boolean; method?: string; originalUrl?: string } = {},
): object {
  const raw = {
    method: options.method ?? 'GET',
    url,
    headers,
    rawHeaders: Object.entries(headers).flat(),
    socket: { encrypted: options.encrypted },
  };
  return options.originalUrl === undefined ? raw : { ...raw, originalUrl: options.originalUrl };
}

describe('normalizeHtu', () => {
  it.each([
    ['HTTPS://API.Example.COM/orders', 'https://api.example.com/orders'],
    ['https://api.example.com:443/orders', 'https://api.example.com/orders'],
    ['http://api.example.com:80/orders', 'http://api.example.com/orders'],
    ['https://api.example.com:8443/orders', 'https://api.example.com:8443/orders'],
    ['https://api.example.com/orders?x=1#top', 'https://api.example.com/orders'],
    ['https://api.example.com/%6frders/%2f', 'https://api.example.com/orders/%2F'],
    ['https://api.example.com', 'https://api.example.com/'],
  ])('%s → %s', (input, expected) => {
    expect(normalizeHtu(input)).toBe(expected);
  });

  it.each([['/orders'], ['ftp://api.example.com/orders'], ['https://user:pw@api.example.com/']])(
    'refuses %s',
    (input) => {
      expect(normalizeHtu(input)).toBeUndefined();
    },
  );
});

describe('requestTarget', () => {
  it.each([
    ['plain http', request('/orders?x=1', { host: 'api:3000' }), false, 'http://api:3000/orders'],
    ['TLS', request('/orders', { host: 'api' }, { encrypted: true }), false, 'https://api/orders'],
    [
      "Express's originalUrl under a mounted router",
      request('/', { host: 'api' }, { originalUrl: '/v1/orders' }),
      false,
      'http://api/v1/orders',
    ],
    [
      'forwarded headers, trusted',
      request('/orders', {
        host: 'internal:3000',
        'x-forwarded-proto': 'https, http',
        'x-forwarded-host': 'api.example.com, internal',
      }),
      true,
      'https://api.example.com/orders',
    ],
    [
      'forwarded headers, not trusted (the default)',
      request('/orders', {
        host: 'internal:3000',
        'x-forwarded-proto': 'https',
        'x-forwarded-host': 'evil.example',
      }),
      false,
      'http://internal:3000/orders',
    ],
  ])('%s', (_name, req, trusted, htu) => {
    expect(requestTarget(req, trusted)).toEqual({ method: 'GET', htu });
  });

  it.each([
    ['no host', request('/orders', {})],
    ['a host with a path', request('/orders', { host: 'api/evil' })],
    ['a host with userinfo', request('/orders', { host: 'user@api' })],
  ])('refuses a request with %s', (_name, req) => {
    expect(() => requestTarget(req, false)).toThrow(
      expect.objectContaining({ code: 'OIDC_CC_DPOP_PROOF_INVALID' }),
    );
  });
});
