import { resolveOptions } from '../options/resolve-options.util.js';
import type { OidcClientCredentialsModuleOptions } from '../options/oidc-client-credentials-options.interface.js';
import { createCacheEntry, tokenCacheKey } from './token-cache.store.js';

const base: OidcClientCredentialsModuleOptions = {
  issuer: 'https://id.example.com',
  clientId: 'billing',
  clientSecret: 's3cret',
  scope: 'orders:read',
};
const key = (options: Partial<OidcClientCredentialsModuleOptions>) =>
  tokenCacheKey(resolveOptions({ ...base, ...options }));

describe('token cache', () => {
  it.each<[string, Partial<OidcClientCredentialsModuleOptions>]>([
    ['issuer', { issuer: 'https://id2.example.com' }],
    ['token endpoint', { endpoints: { token: 'https://id.example.com/other/token' } }],
    ['client', { clientId: 'shipping' }],
    ['auth method', { clientAuthMethod: 'client_secret_post' }],
    ['scope', { scope: 'orders:write' }],
    ['scope list', { scope: ['orders:read', 'orders:write'] }],
    ['audience', { audience: 'https://orders.example.com' }],
    ['resource', { resource: 'https://orders.example.com' }],
    ['extra params', { extraParams: { tenant: 'a' } }],
    ['key prefix', { cache: { keyPrefix: 'other' } }],
  ])('R02 a different %s gives a different key', (_case, change) => {
    expect(key(change)).not.toBe(key({}));
  });

  it('gives the same key for the same configuration, and never contains the secret', () => {
    expect(key({})).toBe(key({}));
    expect(key({ clientSecret: 'other' })).toBe(key({}));
    expect(key({})).toMatch(/^oidc-cc:token:[0-9a-f]{64}$/);
  });

  const renewal = {
    renewAfterFraction: 0.8,
    renewBeforeExpirySeconds: 60,
    defaultLifetimeSeconds: 300,
    maxLifetimeSeconds: 86_400,
  };

  it.each([
    // [case, expires_in, expected lifetime s, expected renewAt s, cacheable]
    ['R10 absent → default lifetime', undefined, 300, 240, true],
    ['80% comes first', 3600, 3600, 2880, true],
    ['60 s before expiry comes first', 200, 200, 140, true],
    ['margin longer than the lifetime → fraction alone', 30, 30, 24, true],
    ['S81 huge → capped', 1e9, 86_400, 69_120, true],
    ['S81 zero → not cached', 0, 0, 0, false],
  ])('%s', (_case, expiresIn, lifetime, renewAt, cacheable) => {
    const entry = createCacheEntry({ accessToken: 't', expiresIn }, 1_000_000, renewal);
    expect(entry.expiresAt - 1_000_000).toBe(lifetime * 1000);
    expect(entry.renewAt - 1_000_000).toBe(renewAt * 1000);
    expect(entry.cacheable).toBe(cacheable);
    expect(entry.token).toEqual({
      accessToken: 't',
      tokenType: 'bearer',
      expiresAt: entry.expiresAt,
    });
  });
});
