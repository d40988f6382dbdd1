import type { JWK } from 'jose';

/** Outcome of choosing the verification key of one JWS from a JWKS. */
export type JwkSelection =
  | { kind: 'key'; jwk: JWK }
  /** No key has the token's `kid` (or, without `kid`, none fits the algorithm): a refetch may help. */
  | { kind: 'unknown' }
  /** A key is there but must not verify this token; a refetch would not change that. */
  | { kind: 'refused'; reason: string };

/** Key type (and curve) each accepted JWS algorithm requires. HMAC and `none` have none. */
const KEY_TYPE_OF: Readonly<Record<string, { kty: string; crv?: string }>> = {
  RS256: { kty: 'RSA' },
  RS384: { kty: 'RSA' },
  RS512: { kty: 'RSA' },
  PS256: { kty: 'RSA' },
  PS384: { kty: 'RSA' },
  PS512: { kty: 'RSA' },
  ES256: { kty: 'EC', crv: 'P-256' },
  ES384: { kty: 'EC', crv: 'P-384' },
  ES512: { kty: 'EC', crv: 'P-521' },
  EdDSA: { kty: 'OKP', crv: 'Ed25519' },
  Ed25519: { kty: 'OKP', crv: 'Ed25519' },
};

/** RSA keys below this size are refused (RFC 7518 §3.3). */
export const MIN_RSA_BITS = 2048;

/**
 * Chooses the one key of `keys` that may verify a JWS with header `alg` and `kid`, strictly:
 * only by `kid` (or, without `kid`, only when exactly one key fits), never trying several keys.
 * A key fits when it is a public signature key of the algorithm's type and curve, its own `alg`
 * (when it names one) is the token's — one key, one algorithm — its `use` is `sig` and its
 * `key_ops` include `verify` when given, and an RSA modulus has at least 2048 bits.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7517#section-4.2 (`use`), §4.3 (`key_ops`)
 * @see https://www.rfc-editor.org/rfc/rfc8725#section-3.1
 */
export function selectJwk(
  keys: readonly JWK[],
  alg: string,
  kid: string | undefined,
): JwkSelection {
  if (kid !== undefined) {
    const named = keys.filter((key) => key.kid === kid);
    if (named.length === 0) return { kind: 'unknown' };
    const usable = named.filter((key) => fitsAlgorithm(key, alg));
    if (usable.length === 1) return { kind: 'key', jwk: usable[0] };
    return {
      kind: 'refused',
      reason:
        usable.length === 0
          ? 'the key of this kid may not verify this algorithm'
          : 'the kid is ambiguous',
    };
  }
  const usable = keys.filter((key) => fitsAlgorithm(key, alg));
  if (usable.length === 1) return { kind: 'key', jwk: usable[0] };
  if (usable.length === 0) return { kind: 'unknown' };
  return { kind: 'refused', reason: 'the token has no kid and several keys could verify it' };
}

/** Whether one JWK may verify signatures made with `alg`. */
export function fitsAlgorithm(key: JWK, alg: string): boolean {
  const type = KEY_TYPE_OF[alg];
  if (!type || key.kty !== type.kty) return false;
  if (type.crv !== undefined && key.crv !== type.crv) return false;
  if (key.alg !== undefined && key.alg !== alg) return false;
  if (key.use !== undefined && key.use !== 'sig') return false;
  if (
    key.key_ops !== undefined &&
    !(Array.isArray(key.key_ops) && key.key_ops.includes('verify'))
  ) {
    return false;
  }
  // A published private key is compromised; never use it.
  if (key.d !== undefined) return false;
  if (key.kty === 'RSA' && rsaModulusBits(key.n) < MIN_RSA_BITS) return false;
  return true;
}

/** Bit length of a base64url RSA modulus; 0 when it is missing. */
export function rsaModulusBits(n: unknown): number {
  if (typeof n !== 'string') return 0;
  const bytes = Buffer.from(n, 'base64url');
  let start = 0;
  while (start < bytes.length && bytes[start] === 0) start++;
  if (start === bytes.length) return 0;
  return (bytes.length - start - 1) * 8 + (32 - Math.clz32(bytes[start]));
}
