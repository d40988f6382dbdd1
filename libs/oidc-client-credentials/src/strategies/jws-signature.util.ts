import { compactVerify, errors as joseErrors, type CompactVerifyResult } from 'jose';
import { TokenVerificationError } from '../errors/token-verification.error.js';
import type { ResolvedOptions } from '../options/resolved-options.js';
import type { JwksProvider } from './jwks.provider.js';
import { parseCompactJws, type CompactJws } from './jwt-shape.util.js';

/** A public key from the JWKS, imported for one algorithm. */
export type JwsVerificationKey = Awaited<ReturnType<JwksProvider['getKey']>>;

/** What decides whether a JWS signature is checked at all, and with which key. */
export interface JwsSignaturePolicy {
  /** `verification.algorithms`: the only `alg` values accepted (exact, case-sensitive). */
  readonly algorithms: ReadonlySet<string>;
  /** `verification.maxTokenLength`: longer tokens are refused before parsing. */
  readonly maxTokenLength: number;
  /**
   * Where the key comes from: only the ID service's JWKS, chosen by `kid` and `alg`; `readyKey`,
   * when there is one, answers a key already chosen without a promise.
   */
  readonly jwks: Pick<JwksProvider, 'getKey'> & Partial<Pick<JwksProvider, 'readyKey'>>;
}

/** The signature policy of the resolved options, with the module's JWKS. */
export function jwsSignaturePolicy(
  options: ResolvedOptions,
  jwks: JwksProvider,
): JwsSignaturePolicy {
  return {
    algorithms: new Set(options.verification.algorithms),
    maxTokenLength: options.verification.maxTokenLength,
    jwks,
  };
}

/**
 * The first step of the signature layer, before any key is fetched: the compact JWS shape (see
 * `parseCompactJws`) and its `alg` in the allowlist.
 *
 * @throws TokenVerificationError `OIDC_CC_TOKEN_MALFORMED` for the shape, `OIDC_CC_TOKEN_INVALID`
 *   for an algorithm that is not allowed.
 * @see https://www.rfc-editor.org/rfc/rfc8725#section-3.1
 */
export function parseAllowedJws(token: string, policy: JwsSignaturePolicy): CompactJws {
  const jws = parseCompactJws(token, policy.maxTokenLength);
  if (!policy.algorithms.has(jws.header.alg)) {
    throw TokenVerificationError.invalid('The token algorithm is not in verification.algorithms');
  }
  return jws;
}

/**
 * The second step: the one key of the JWKS that may verify this JWS (by `kid`, fitting its
 * `alg`), then `check` — the jose call that verifies the signature with that key and that one
 * algorithm (`compactVerify`, or `jwtVerify`, which also checks the claims). jose's refusals
 * become `TokenVerificationError`s; an unavailable JWKS stays `ValidatorUnavailableError`.
 */
export async function withSignatureKey<T>(
  jws: CompactJws,
  policy: JwsSignaturePolicy,
  check: (key: JwsVerificationKey, algorithms: string[]) => Promise<T>,
): Promise<T> {
  const { alg, kid } = jws.header;
  // A key already chosen from the current keys is used without waiting for the JWKS.
  const key = policy.jwks.readyKey?.(alg, kid) ?? (await policy.jwks.getKey(alg, kid));
  try {
    return await check(key, [alg]);
  } catch (error) {
    throw joseRefusal(error);
  }
}

/**
 * The signature layer whole, for a JWS whose payload is not a claims set: shape, algorithm
 * allowlist, key selection and jose's signature check, as the JWT strategy runs them.
 */
export async function verifyJwsSignature(
  token: string,
  policy: JwsSignaturePolicy,
): Promise<CompactVerifyResult> {
  const jws = parseAllowedJws(token, policy);
  return await withSignatureKey(jws, policy, (key, algorithms) =>
    compactVerify(token, key, { algorithms }),
  );
}

/**
 * jose's failure as ours: an expired token keeps its meaning, a structural error is "malformed",
 * everything else "invalid". Only jose's code and message are kept as `cause`: its errors can hold
 * the claims set. Anything that is not jose's (nor a key jose refused) is rethrown as is.
 */
export function joseRefusal(error: unknown): TokenVerificationError {
  if (error instanceof TokenVerificationError) return error;
  if (error instanceof joseErrors.JWTExpired) return TokenVerificationError.expired(error);
  if (error instanceof joseErrors.JWSInvalid || error instanceof joseErrors.JWTInvalid) {
    return TokenVerificationError.malformed('The token is malformed', error);
  }
  if (error instanceof joseErrors.JOSEError || error instanceof TypeError) {
    // TypeError: jose refuses a key it was given (e.g. an RSA modulus below 2048 bits).
    return TokenVerificationError.invalid('The token is invalid', error);
  }
  throw error;
}
