import { ConfigurationError } from '../errors/configuration.error.js';
import type { VerifiedToken } from '../strategies/verified-token.interface.js';
import { AllowClients } from './allow-clients.decorator.js';
import {
  checkClaims,
  REQUIRED_CLAIMS_METADATA,
  RequireClaims,
  type ClaimRequirement,
  type ClaimsOutcome,
  type RequiredClaims,
} from './require-claims.decorator.js';
import { RequireScopes } from './require-scopes.decorator.js';

/** The requirement a `@RequireClaims()` stores on its handler. */
function requirementOf(requirement: Parameters<typeof RequireClaims>[0]): ClaimRequirement {
  class Route {
    handler(): void {}
  }
  const descriptor = Object.getOwnPropertyDescriptor(Route.prototype, 'handler')!;
  RequireClaims(requirement)(Route.prototype, 'handler', descriptor);
  return Reflect.getMetadata(
    REQUIRED_CLAIMS_METADATA,
    descriptor.value as object,
  ) as ClaimRequirement;
}

const tokenWith = (claims: Record<string, unknown>): VerifiedToken => ({
  clientId: 'billing',
  scopes: [],
  claims: Object.assign(Object.create(null) as object, claims),
});

describe('checkClaims by value', () => {
  it.each<[string, RequiredClaims, Record<string, unknown>, boolean]>([
    ['claims-exact-value', { tenant: 'acme' }, { tenant: 'acme' }, true],
    ['claims-other-value', { tenant: 'acme' }, { tenant: 'globex' }, false],
    ['claims-missing', { tenant: 'acme' }, {}, false],
    ['claims-null', { tenant: 'acme' }, { tenant: null }, false],
    ['claims-no-substring', { tenant: 'acme' }, { tenant: 'acme-corp' }, false],
    ['claims-scalar-in-token-array', { tenant: 'acme' }, { tenant: ['acme', 'x'] }, true],
    ['claims-array-contains', { roles: ['admin'] }, { roles: ['reader', 'admin'] }, true],
    ['claims-array-lacks-value', { roles: ['admin'] }, { roles: ['reader'] }, false],
    ['claims-array-empty', { roles: ['admin'] }, { roles: [] }, false],
    ['claims-array-every-value', { roles: ['a', 'b'] }, { roles: ['b', 'c', 'a'] }, true],
    ['claims-array-one-of-two', { roles: ['a', 'b'] }, { roles: ['a'] }, false],
    ['claims-scalar-token-claim-for-list', { roles: ['admin'] }, { roles: 'admin' }, true],
    ['claims-scalar-token-claim-two-values', { roles: ['a', 'b'] }, { roles: 'a' }, false],
    ['claims-array-no-nested-match', { roles: ['admin'] }, { roles: [['admin']] }, false],
    ['claims-number', { level: 3 }, { level: 3 }, true],
    ['claims-number-as-string', { level: 3 }, { level: '3' }, false],
    ['claims-boolean', { verified: true }, { verified: true }, true],
    ['claims-boolean-as-string', { verified: true }, { verified: 'true' }, false],
    [
      'claims-all-named',
      { tenant: 'acme', roles: ['admin'] },
      { tenant: 'acme', roles: ['admin'] },
      true,
    ],
    ['claims-one-named-wrong', { tenant: 'acme', roles: ['admin'] }, { tenant: 'acme' }, false],
    ['claims-dotted-name-is-a-name', { 'realm.role': 'admin' }, { 'realm.role': 'admin' }, true],
    [
      'claims-dotted-name-not-a-path',
      { 'realm.role': 'admin' },
      { realm: { role: 'admin' } },
      false,
    ],
  ])('%s', (_case, required, claims, satisfied) => {
    expect(checkClaims(requirementOf(required), tokenWith(claims))).toEqual({ satisfied });
  });

  it.each(['constructor', 'toString', '__proto__', 'hasOwnProperty'])(
    'S38 claims-prototype-member-%s: a member of Object.prototype is not a claim',
    (name) => {
      const required = { [name]: 'x' };
      // A strategy's claims with a prototype (not the built-ins', which have none).
      const token: VerifiedToken = { clientId: 'billing', scopes: [], claims: {} };
      expect(checkClaims(requirementOf(required), token)).toEqual({ satisfied: false });
    },
  );
});

describe('checkClaims with a predicate', () => {
  const token = tokenWith({ tenant: 'acme' });

  it.each<[string, (claims: Readonly<Record<string, unknown>>) => unknown, ClaimsOutcome]>([
    ['claims-predicate-true', (claims) => claims.tenant === 'acme', { satisfied: true }],
    ['claims-predicate-false', (claims) => claims.tenant === 'globex', { satisfied: false }],
    [
      'claims-predicate-returns-promise',
      async () => true,
      { satisfied: false, failure: { kind: 'not-boolean', type: 'a Promise' } },
    ],
    [
      'claims-predicate-returns-truthy-string',
      () => 'yes',
      { satisfied: false, failure: { kind: 'not-boolean', type: 'string' } },
    ],
    [
      'claims-predicate-returns-null',
      () => null,
      { satisfied: false, failure: { kind: 'not-boolean', type: 'null' } },
    ],
    [
      'claims-predicate-returns-nothing',
      () => undefined,
      { satisfied: false, failure: { kind: 'not-boolean', type: 'undefined' } },
    ],
  ])('%s', (_case, predicate, outcome) => {
    expect(checkClaims(requirementOf(predicate as () => boolean), token)).toEqual(outcome);
  });

  it('claims-predicate-throws: the error is kept for the log, the request refused', () => {
    const thrown = new TypeError('boom');
    const outcome = checkClaims(
      requirementOf(() => {
        throw thrown;
      }),
      token,
    );
    expect(outcome).toEqual({ satisfied: false, failure: { kind: 'threw', error: thrown } });
  });

  it('passes the claims and the verified token', () => {
    const seen: unknown[] = [];
    checkClaims(
      requirementOf((claims, verified) => {
        seen.push(claims, verified);
        return true;
      }),
      token,
    );
    expect(seen).toEqual([token.claims, token]);
  });
});

describe('decorators refuse a wrong declaration when the class is declared', () => {
  it.each<[string, () => unknown, string]>([
    ['allow-clients-none', () => AllowClients(), 'expected at least one client id'],
    ['allow-clients-empty-id', () => AllowClients('billing', ''), 'got ""'],
    ['allow-clients-not-a-string', () => AllowClients(42 as unknown as string), 'got number'],
    ['claims-empty-object', () => RequireClaims({}), 'expected at least one claim'],
    [
      'claims-not-an-object',
      () => RequireClaims('tenant' as unknown as RequiredClaims),
      'got string',
    ],
    ['claims-an-array', () => RequireClaims([] as unknown as RequiredClaims), 'got an array'],
    [
      'claims-null-value',
      () => RequireClaims({ tenant: null } as unknown as RequiredClaims),
      '"tenant"',
    ],
    [
      'claims-object-value',
      () => RequireClaims({ a: { b: 1 } } as unknown as RequiredClaims),
      '"a"',
    ],
    ['claims-empty-list', () => RequireClaims({ roles: [] }), '"roles"'],
    ['claims-nan', () => RequireClaims({ level: Number.NaN }), '"level"'],
    [
      'claims-class-instance',
      () => RequireClaims(new Map() as unknown as RequiredClaims),
      'got object',
    ],
    ['scopes-any-none', () => RequireScopes.any(), 'expected at least one scope'],
    ['scopes-any-space', () => RequireScopes.any('a b'), 'got "a b"'],
    ['scopes-any-quote', () => RequireScopes.any('ok', 'a"b'), 'got "a\\"b"'],
  ])('%s', (_case, declare, message) => {
    expect(declare).toThrow(ConfigurationError);
    expect(declare).toThrow(message);
  });
});
