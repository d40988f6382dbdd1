import { describe, expect, it } from '@jest/globals';
import { resolveOptions } from '../../options/resolve-options.util.js';
import type { VerifiedToken } from '../../strategies/verified-token.interface.js';
import { SenderConstraintVerifier } from './sender-constraint.verifier.js';

const JKT = 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs';
const X5T = 'bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2';

function verifier(verification: Record<string, unknown> = {}): SenderConstraintVerifier {
  return new SenderConstraintVerifier(
    resolveOptions({ issuer: 'https://id.example.com', verification }),
  );
}

function token(cnf?: Record<string, string>, viaClaimsOnly = false): VerifiedToken {
  const claims = Object.freeze({ sub: 'billing', ...(cnf && { cnf }) });
  return {
    clientId: 'billing',
    scopes: [],
    claims,
    ...(cnf && !viaClaimsOnly && { confirmation: cnf }),
  };
}

const codeOf = (run: () => unknown): string | undefined => {
  try {
    const result = run();
    return result === undefined ? 'accepted (sync)' : 'pending';
  } catch (error) {
    return (error as { code?: string }).code;
  }
};

describe('SenderConstraintVerifier', () => {
  it.each<[string, Record<string, unknown>, VerifiedToken, string]>([
    ['a bearer token: accepted without a promise', {}, token(), 'accepted (sync)'],
    [
      'a DPoP-bound token on a transport without proofs (microservice, WebSocket)',
      {},
      token({ jkt: JKT }),
      'OIDC_CC_TOKEN_BINDING_INVALID',
    ],
    [
      'a certificate-bound token on a transport without certificates',
      {},
      token({ 'x5t#S256': X5T }),
      'OIDC_CC_TOKEN_BINDING_INVALID',
    ],
    [
      "a custom strategy's result whose claims carry cnf (not recorded as confirmation)",
      {},
      token({ jkt: JKT }, true),
      'OIDC_CC_TOKEN_BINDING_INVALID',
    ],
    [
      'a bearer token when DPoP is required',
      { dpop: 'required' },
      token(),
      'OIDC_CC_TOKEN_BINDING_INVALID',
    ],
    [
      'a bearer token when mTLS is required',
      { mtls: 'required' },
      token(),
      'OIDC_CC_TOKEN_BINDING_INVALID',
    ],
  ])('%s', (_name, verification, verified, expected) => {
    expect(
      codeOf(() => verifier(verification).check({ token: 't', verified, request: undefined })),
    ).toBe(expected);
  });

  it('refuses a cnf it cannot check, read from the claims of a custom strategy', () => {
    const verified = { clientId: 'billing', scopes: [], claims: { cnf: { jwk: {} } } };
    expect(codeOf(() => verifier().check({ token: 't', verified, request: undefined }))).toBe(
      'OIDC_CC_TOKEN_INVALID',
    );
  });
});
