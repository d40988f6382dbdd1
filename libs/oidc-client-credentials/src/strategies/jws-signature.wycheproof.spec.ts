import { readFileSync } from 'node:fs';
import { Test } from '@nestjs/testing';
import type { JWK } from 'jose';
import {
  OIDC_CLIENT_CREDENTIALS_RESOLVED_OPTIONS,
  OidcClientCredentialsModule,
  TokenVerificationError,
  type ResolvedOptions,
} from 'nest-oidc-client-credentials';
import { JwksProvider } from './jwks.provider.js';
import { FakeIdService, PATHS } from 'nest-oidc-client-credentials/testing';
import { jwsSignaturePolicy, verifyJwsSignature } from './jws-signature.util.js';

/**
 * Project Wycheproof's JWS vectors (test/vectors/wycheproof, Apache-2.0) through the SIGNATURE layer of
 * the JWT strategy — `verifyJwsSignature` with the policy `jwsSignaturePolicy` builds from the
 * module's options and JWKS provider: the same shape checks, algorithm allowlist, key selection from
 * a JWKS fetched over HTTP, and jose signature check that `JwtVerificationStrategy.verify` runs
 * (`parseAllowedJws` and `withSignatureKey`). The payloads are not JWT claim sets, so the claims
 * layer is not involved.
 *
 * Each group's key is served as the ID service's whole JWKS. The allowlist is widened for this
 * suite from the default [RS256, PS256, ES256, EdDSA] to every asymmetric algorithm the library
 * can verify (RS/PS/ES 256–512, EdDSA), so the RS384/RS512/PS384/PS512/ES512 vectors exercise the
 * signature check rather than stopping at the allowlist.
 *
 * "valid" vectors the layer refuses on purpose (each listed below, with its reason; the suite
 * fails if the list is wrong in either direction):
 * - HMAC (HS256 with an `oct` key): HS* cannot be allowlisted at all (`resolveOptions` refuses it)
 *   and a symmetric key from a JWKS never verifies anything (S15, S16). There is no "wider"
 *   allowlist under which these could pass, so for them "passes the layer" means "refused".
 * - The key's own `alg` differs from the token's (RFC 7520 keys that Wycheproof labels PS256 used
 *   for PS384, and "ES521" used for ES512): one key, one algorithm (rfc8725bis, S18). Wycheproof
 *   treats a JWK's `alg` as advisory; this library does not.
 * - An empty payload segment: valid for a bare JWS, but a JWT's payload is a JSON object, so the
 *   shape check refuses an empty segment before any cryptography (S30).
 */

interface WycheproofTest {
  tcId: number;
  comment: string;
  jws: string;
  result: 'valid' | 'invalid' | 'acceptable';
  flags: string[];
}

interface WycheproofGroup {
  comment: string;
  public?: JWK;
  private?: JWK;
  tests: WycheproofTest[];
}

const VECTORS = JSON.parse(
  readFileSync(
    new URL('../../../../test/vectors/wycheproof/json_web_signature_test.json', import.meta.url),
    'utf8',
  ),
) as { numberOfTests: number; testGroups: WycheproofGroup[] };

const ALL_ASYMMETRIC = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
];

const HMAC = 'HMAC key: HS* is never allowlisted and oct keys never verify (S15, S16)';
const KEY_ALG = "the key's own alg is not the token's: one key, one algorithm (S18)";
const EMPTY = 'empty payload segment: never a JWT, refused by the shape check (S30)';

/** Valid vectors refused by design, by tcId. */
const REFUSED_BY_DESIGN: Readonly<Record<number, string>> = {
  1: HMAC,
  348: HMAC,
  352: HMAC,
  357: HMAC,
  358: HMAC,
  359: HMAC,
  372: HMAC,
  373: HMAC,
  376: HMAC,
  377: HMAC,
  346: KEY_ALG,
  347: KEY_ALG,
  350: KEY_ALG,
  351: KEY_ALG,
  259: EMPTY,
  264: EMPTY,
  268: EMPTY,
  272: EMPTY,
  320: EMPTY,
  325: EMPTY,
};

type Outcome = { tcId: number; accepted: boolean; error?: unknown };

describe('Wycheproof JWS vectors through the JWT signature layer', () => {
  let idp: FakeIdService;
  const outcomes = new Map<number, Outcome>();

  beforeAll(async () => {
    idp = await FakeIdService.start({ alg: 'ES256' });
    for (const group of VECTORS.testGroups) {
      const key = group.public ?? group.private!;
      idp.on(PATHS.jwks, () => ({ body: { keys: [key] } }));
      const moduleRef = await Test.createTestingModule({
        imports: [
          OidcClientCredentialsModule.forRoot({
            issuer: idp.issuer,
            endpoints: { jwks: idp.url(PATHS.jwks) },
            // A vector whose kid the JWKS lacks is refused after one fetch, with no cooldown to
            // wait for (inside one it would be answered 503 until the next fetch).
            verification: { strategy: 'jwt', algorithms: ALL_ASYMMETRIC, jwksCooldownSeconds: 0 },
          }),
        ],
      }).compile();
      const policy = jwsSignaturePolicy(
        moduleRef.get<ResolvedOptions>(OIDC_CLIENT_CREDENTIALS_RESOLVED_OPTIONS),
        moduleRef.get(JwksProvider),
      );
      for (const test of group.tests) {
        const outcome = await verifyJwsSignature(test.jws, policy).then(
          () => ({ tcId: test.tcId, accepted: true }),
          (error: unknown) => ({ tcId: test.tcId, accepted: false, error }),
        );
        outcomes.set(test.tcId, outcome);
      }
    }
  });
  afterAll(() => idp.close());

  const all = VECTORS.testGroups.flatMap((group) =>
    group.tests.map((test) => ({ ...test, group: group.comment })),
  );

  it('runs all 401 vectors', () => {
    expect(all).toHaveLength(401);
    expect(VECTORS.numberOfTests).toBe(401);
    expect(outcomes.size).toBe(401);
  });

  it.each(all.filter((t) => t.result === 'invalid').map((t) => [t.tcId, t.group, t.comment, t]))(
    'tcId %i (%s) %s: refused with TokenVerificationError',
    (tcId) => {
      const outcome = outcomes.get(tcId)!;
      expect(outcome.accepted).toBe(false);
      expect(outcome.error).toBeInstanceOf(TokenVerificationError);
    },
  );

  it.each(
    all
      .filter((t) => t.result !== 'invalid' && !(t.tcId in REFUSED_BY_DESIGN))
      .map((t) => [t.tcId, t.group, t.comment]),
  )('tcId %i (%s) %s: valid, passes the signature layer', (tcId) => {
    const outcome = outcomes.get(tcId)!;
    expect(outcome.error).toBeUndefined();
    expect(outcome.accepted).toBe(true);
  });

  it.each(Object.entries(REFUSED_BY_DESIGN).map(([tcId, reason]) => [Number(tcId), reason]))(
    'tcId %i is valid for Wycheproof but refused by design: %s',
    (tcId) => {
      expect(all.find((t) => t.tcId === tcId)?.result).toBe('valid');
      const outcome = outcomes.get(tcId)!;
      expect(outcome.accepted).toBe(false);
      expect(outcome.error).toBeInstanceOf(TokenVerificationError);
    },
  );

  it('every other refusal is a TokenVerificationError, never another error', () => {
    for (const outcome of outcomes.values()) {
      if (!outcome.accepted) expect(outcome.error).toBeInstanceOf(TokenVerificationError);
    }
  });
});
