import { ownedClaims, toVerifiedToken } from './claims.util.js';

describe('toVerifiedToken', () => {
  it.each([
    ['one scope', 'orders:read', ['orders:read']],
    ['two scopes', 'orders:read orders:write', ['orders:read', 'orders:write']],
    [
      'spaces repeated, leading and trailing',
      ' orders:read  orders:write ',
      ['orders:read', 'orders:write'],
    ],
    ['an empty string', '', []],
    ['only spaces', '   ', []],
    ['an array (not RFC 9068 §2.2.3)', ['orders:read'], []],
    ['absent', undefined, []],
  ])('scope as %s', (_case, scope, scopes) => {
    const verified = toVerifiedToken({ sub: 'billing', scope });
    expect(verified.scopes).toEqual(scopes);
    expect(Object.isFrozen(verified.scopes)).toBe(true);
  });

  it('copies claims it does not own into a frozen null-prototype object', () => {
    const claims = { sub: 'billing', toString: 'x' };
    const verified = toVerifiedToken(claims);
    expect(verified.claims).not.toBe(claims);
    expect(Object.isFrozen(claims)).toBe(false);
    expect(Object.getPrototypeOf(verified.claims)).toBeNull();
    expect(Object.isFrozen(verified.claims)).toBe(true);
    expect(verified.claims).toEqual({ sub: 'billing', toString: 'x' });
  });

  it('keeps owned claims (a parsed payload made frozen and prototype-free) without a copy', () => {
    const payload = JSON.parse('{"sub":"billing","__proto__":{"admin":true}}') as Record<
      string,
      unknown
    >;
    const claims = ownedClaims(payload);
    const verified = toVerifiedToken(claims);
    expect(verified.claims).toBe(payload);
    expect(Object.getPrototypeOf(verified.claims)).toBeNull();
    expect(Object.isFrozen(verified.claims)).toBe(true);
    expect(Object.keys(verified.claims)).toEqual(['sub', '__proto__']);
    expect((verified.claims as { admin?: unknown }).admin).toBeUndefined();
  });

  it('records the confirmation of a key-bound token only when there is one', () => {
    expect(toVerifiedToken({ sub: 'billing' })).not.toHaveProperty('confirmation');
    const bound = toVerifiedToken({ sub: 'billing', cnf: { jkt: 'a'.repeat(43) } });
    expect(bound.confirmation).toEqual({ jkt: 'a'.repeat(43) });
    expect(Object.isFrozen(bound)).toBe(true);
  });
});
