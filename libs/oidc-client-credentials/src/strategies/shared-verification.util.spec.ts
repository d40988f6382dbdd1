import { TokenVerificationError } from '../errors/token-verification.error.js';
import {
  readSharedVerification,
  refusedRecord,
  verifiedRecord,
  type SharedVerificationLimits,
} from './shared-verification.util.js';

// A record read back from the shared store (after it opened with the cache key, when one is set)
// is taken only when every field is what this instance would have written (S72): anything else is
// a miss, and the instance verifies the token itself.

const NOW = 1_800_000_000_000;
const KEY = 'oidc-cc:verify:profile:digest';
const limits: SharedVerificationLimits = {
  key: KEY,
  now: NOW,
  ttlMs: 300_000,
  negativeTtlMs: 10_000,
  notBefore: 0,
};
const result = {
  clientId: 'billing',
  subject: 'billing',
  scopes: ['orders:read'],
  expiresAt: NOW / 1000 + 3600,
  claims: { sub: 'billing' },
};
const written = (over: Record<string, unknown> = {}) => ({
  ...verifiedRecord(KEY, result, NOW - 1000, NOW + 60_000),
  ...over,
});
const withResult = (over: Record<string, unknown>) => written({ result: { ...result, ...over } });

describe('readSharedVerification', () => {
  it('takes a well-formed record back, frozen, until the earliest of its windows', () => {
    const read = readSharedVerification(written(), limits);
    expect(read).toEqual({ value: expect.objectContaining(result), until: NOW + 60_000 });
    expect(Object.isFrozen(read && 'value' in read ? read.value : undefined)).toBe(true);
  });

  it('takes a refusal back for the negative TTL at most', () => {
    const error = new TokenVerificationError('OIDC_CC_TOKEN_INACTIVE', 'The token is not active');
    const read = readSharedVerification(
      refusedRecord(KEY, error, NOW - 1000, NOW + 60_000),
      limits,
    );
    expect(read).toEqual({ refused: expect.any(TokenVerificationError), until: NOW + 9000 });
    expect(read && 'refused' in read && read.refused.code).toBe('OIDC_CC_TOKEN_INACTIVE');
  });

  it.each<[string, Record<string, unknown> | undefined]>([
    ['S72 nothing stored', undefined],
    ['S72 another library’s data', { value: 'hello' }],
    ['S72 a result without clientId', withResult({ clientId: undefined })],
    ['S72 an empty clientId', withResult({ clientId: '' })],
    ['S72 scopes not a list', withResult({ scopes: 'orders:write' })],
    ['S72 a scope that is not a string', withResult({ scopes: [1] })],
    ['S72 claims not an object', withResult({ claims: 'x' })],
    ['S72 claims a list', withResult({ claims: [] })],
    ['S72 expiresAt not a number', withResult({ expiresAt: '9999999999' })],
    ['S70 past its exp', withResult({ expiresAt: 1 })],
    ['S72 written longer ago than this instance’s TTL', written({ at: NOW - 301_000 })],
    ['S72 dated in the future', written({ at: NOW + 3_600_000 })],
    ['S72 written before this instance cleared its cache', written({ at: -1 })],
    ['S72 until not a number', written({ until: 'later' })],
    ['S72 written under another key', written({ key: `${KEY}x` })],
    ['S72 another kind', written({ kind: 'accepted' })],
    [
      'S72 a refusal with a code that is not a refusal',
      {
        ...written(),
        kind: 'refused',
        code: 'OIDC_CC_JWKS_UNAVAILABLE',
        message: 'x',
      },
    ],
    [
      'S72 a refusal with the 403 code of a client not allowed, which no verification writes',
      {
        ...written(),
        kind: 'refused',
        code: 'OIDC_CC_CLIENT_NOT_ALLOWED',
        message: 'x',
      },
    ],
    ['S72 another format version', written({ v: 2 })],
  ])('%s is a miss', (_case, record) => {
    expect(readSharedVerification(record, limits)).toBeUndefined();
  });

  it('S72 claims come back without a prototype to pollute', () => {
    const read = readSharedVerification(
      withResult({ claims: JSON.parse('{"__proto__":{"admin":true},"sub":"billing"}') }),
      limits,
    );
    const claims = read && 'value' in read ? read.value.claims : undefined;
    expect(Object.getPrototypeOf(claims)).toBeNull();
    expect(({} as Record<string, unknown>).admin).toBeUndefined();
  });
});
