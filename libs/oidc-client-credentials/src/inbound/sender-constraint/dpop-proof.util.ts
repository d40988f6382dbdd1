import {
  calculateJwkThumbprint,
  decodeProtectedHeader,
  EmbeddedJWK,
  jwtVerify,
  type JWK,
  type JWTPayload,
} from 'jose';
import { SenderConstraintError } from '../../errors/sender-constraint.error.js';
import { accessTokenHash } from '../../proof-of-possession/confirmation.util.js';

/** Longest DPoP proof read at all: a proof is a few hundred bytes; RSA-4096 keys stay below 2 KiB. */
export const MAX_DPOP_PROOF_LENGTH = 8192;
/** Longest `jti` remembered (RFC 9449 asks for ≥ 96 bits of randomness, a few dozen characters). */
const MAX_JTI_LENGTH = 256;
/** Members of a private (or symmetric) JWK: a proof carrying one is refused. */
const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;
/** RSA moduli from 2048 to 4096 bits, as base64url characters; exponents of at most 4 bytes. */
const RSA_MODULUS_CHARS = { min: 342, max: 683 };
const RSA_EXPONENT_MAX_CHARS = 6;
/** Three base64url segments; an empty signature is left to the `alg` check (`none`). */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** What a DPoP proof must match. */
export interface DpopProofExpectations {
  /** The request's method, as received (RFC 9449 §4.3 check 8). */
  method: string;
  /** The request's URL without query and fragment, normalised by {@link normalizeHtu}. */
  htu: string;
  /** The access token the request carries: the proof's `ath` must be its hash. */
  accessToken: string;
  /** JWS algorithms accepted. */
  algorithms: readonly string[];
  /** How old `iat` may be, in seconds. */
  maxAgeSeconds: number;
  /** Clock skew allowed on `iat`, either way, in seconds. */
  clockToleranceSeconds: number;
}

/** A proof that passed {@link verifyDpopProof}. */
export interface VerifiedDpopProof {
  /** RFC 7638 SHA-256 thumbprint of the proof's key, base64url. */
  jkt: string;
  jti: string;
  iat: number;
  /** The server nonce the proof carries, if any. */
  nonce?: string;
}

/**
 * Checks one DPoP proof as RFC 9449 §4.3 lists, short of the nonce and the replay check (the
 * caller's, with its stores): at most {@link MAX_DPOP_PROOF_LENGTH} characters of compact JWS;
 * `typ` `dpop+jwt`; `alg` in the allowlist (never `none` or HMAC); a public `jwk` header only (no
 * private member, no `kid` instead of a key; RSA keys of 2048 to 4096 bits with a small exponent,
 * so checking one costs little); the signature with that key; `jti` a non-empty string; `htm` the
 * request's method; `htu` the request's URL (both normalised, query and fragment ignored); `iat`
 * within `maxAgeSeconds` in the past and not in the future, with the clock tolerance; `ath` the
 * hash of the access token.
 *
 * @throws SenderConstraintError `OIDC_CC_DPOP_PROOF_INVALID`, with a fixed reason.
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-4.3
 */
export async function verifyDpopProof(
  proof: string,
  expected: DpopProofExpectations,
  now = Date.now(),
): Promise<VerifiedDpopProof> {
  if (proof.length > MAX_DPOP_PROOF_LENGTH) throw invalid('The DPoP proof is too long');
  if (!COMPACT_JWS.test(proof)) throw invalid('The DPoP proof is not a compact JWS');
  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    header = decodeProtectedHeader(proof);
  } catch {
    throw invalid('The DPoP proof header is not a JSON object');
  }
  if (typeof header.typ !== 'string' || header.typ.toLowerCase() !== 'dpop+jwt') {
    throw invalid('The DPoP proof typ is not dpop+jwt');
  }
  if (typeof header.alg !== 'string' || !expected.algorithms.includes(header.alg)) {
    throw invalid('The DPoP proof alg is not accepted');
  }
  const jwk = publicJwkOf(header.jwk);
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(proof, EmbeddedJWK, {
      typ: 'dpop+jwt',
      algorithms: [...expected.algorithms],
      currentDate: new Date(now),
      clockTolerance: expected.clockToleranceSeconds,
    }));
  } catch {
    throw invalid('The DPoP proof signature or claims do not verify');
  }
  const jti = payload.jti;
  if (typeof jti !== 'string' || jti.length === 0 || jti.length > MAX_JTI_LENGTH) {
    throw invalid('The DPoP proof jti is missing or too long');
  }
  if (payload.htm !== expected.method) {
    throw invalid('The DPoP proof htm is not the request method');
  }
  if (typeof payload.htu !== 'string' || normalizeHtu(payload.htu) !== expected.htu) {
    throw invalid('The DPoP proof htu is not the request URL');
  }
  const iat = payload.iat;
  if (typeof iat !== 'number' || !Number.isFinite(iat)) {
    throw invalid('The DPoP proof iat is missing');
  }
  const seconds = now / 1000;
  if (iat > seconds + expected.clockToleranceSeconds) {
    throw invalid('The DPoP proof iat is in the future');
  }
  if (iat < seconds - expected.maxAgeSeconds - expected.clockToleranceSeconds) {
    throw invalid('The DPoP proof is too old');
  }
  if (typeof payload.ath !== 'string') throw invalid('The DPoP proof has no ath');
  if (payload.ath !== accessTokenHash(expected.accessToken)) {
    throw invalid('The DPoP proof ath is not the hash of the access token');
  }
  const nonce = payload.nonce;
  if (nonce !== undefined && typeof nonce !== 'string') {
    throw invalid('The DPoP proof nonce is not a string');
  }
  return { jkt: await calculateJwkThumbprint(jwk, 'sha256'), jti, iat, nonce };
}

/**
 * A URL as RFC 9449 §4.3 compares `htu`: scheme and host in lower case, the default port left out,
 * percent-encodings with upper-case hex and unreserved characters decoded (RFC 3986 §6.2.2), query
 * and fragment dropped. `undefined` for anything but an absolute `http(s)` URL.
 */
export function normalizeHtu(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return undefined;
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.username || url.password) {
    return undefined;
  }
  return `${url.protocol}//${url.host}${normalizePercentEncoding(url.pathname)}`;
}

/** The proof's `jwk` header: a public EC, RSA or OKP key of a bounded size, else refused. */
function publicJwkOf(value: unknown): JWK {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid('The DPoP proof carries no public jwk');
  }
  const jwk = value as JWK;
  if (PRIVATE_JWK_MEMBERS.some((name) => Object.hasOwn(jwk, name))) {
    throw invalid('The DPoP proof jwk is not a public key');
  }
  if (jwk.kty === 'RSA') {
    const { n, e } = jwk;
    if (
      typeof n !== 'string' ||
      typeof e !== 'string' ||
      n.length < RSA_MODULUS_CHARS.min ||
      n.length > RSA_MODULUS_CHARS.max ||
      e.length > RSA_EXPONENT_MAX_CHARS
    ) {
      throw invalid('The DPoP proof RSA key is not of an accepted size');
    }
  } else if (jwk.kty !== 'EC' && jwk.kty !== 'OKP') {
    throw invalid('The DPoP proof jwk is not an asymmetric public key');
  }
  return jwk;
}

const PERCENT_ENCODED = /%([0-9A-Fa-f]{2})/g;
const UNRESERVED = /[A-Za-z0-9\-._~]/;

function normalizePercentEncoding(path: string): string {
  return path.replace(PERCENT_ENCODED, (_match, hex: string) => {
    const char = String.fromCharCode(Number.parseInt(hex, 16));
    return UNRESERVED.test(char) ? char : `%${hex.toUpperCase()}`;
  });
}

function invalid(message: string): SenderConstraintError {
  return SenderConstraintError.proof(message);
}
