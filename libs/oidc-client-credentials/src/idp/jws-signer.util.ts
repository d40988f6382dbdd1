import { CompactSign, importJWK, type CryptoKey, type JWK } from 'jose';
import { OidcClientCredentialsError } from '../errors/oidc-client-credentials.error.js';

/**
 * A key that signs without ever leaving where it lives: a KMS, an HSM, a vault's transit engine.
 * `sign` receives the JWS signing input (`BASE64URL(header) '.' BASE64URL(payload)`, as bytes)
 * and returns the signature bytes exactly as JWS carries them (RFC 7518 §3):
 *
 * - `RS*` / `PS*`: the RSASSA signature, as every KMS returns it;
 * - `ES256` / `ES384` / `ES512`: the raw `r || s` concatenation (64, 96 or 132 bytes), **not** the
 *   DER `ECDSA-Sig-Value` that AWS KMS, GCP KMS and `node:crypto` return by default — convert it
 *   (with `node:crypto`, sign with `dsaEncoding: 'ieee-p1363'`);
 * - `EdDSA` / `Ed25519`: the 64-byte Ed25519 signature.
 *
 * `kid` goes into the JWS header, so that the ID service finds the public key among the client's.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7518#section-3.4
 */
export interface JwsSigner {
  kid?: string;
  alg: string;
  sign(data: Uint8Array): Promise<Uint8Array>;
}

/** A private key a JWS can be signed with: a private JWK, a WebCrypto `CryptoKey` or a {@link JwsSigner}. */
export type SigningKey = JWK | CryptoKey | JwsSigner;

/** The asymmetric JWS algorithms jose signs and verifies (RFC 7518, RFC 8037, ML-DSA). */
export const ASYMMETRIC_JWS_ALGORITHMS: readonly string[] = [
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
  'Ed25519',
  'ML-DSA-44',
  'ML-DSA-65',
  'ML-DSA-87',
];

/** Bytes of a raw `r || s` ECDSA signature per JWS algorithm (RFC 7518 §3.4). */
const ECDSA_SIGNATURE_BYTES: Readonly<Record<string, number>> = {
  ES256: 64,
  ES384: 96,
  ES512: 132,
};

/** Thrown when a JWS cannot be signed with a key; the message names the cause, never key material. */
export class JwsSigningError extends OidcClientCredentialsError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('OIDC_CC_SIGNING_FAILED', message, options);
  }
}

/** Whether `value` is a {@link JwsSigner} (an object with a string `alg` and a `sign` function). */
export function isJwsSigner(value: unknown): value is JwsSigner {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as Partial<JwsSigner>;
  return typeof candidate.sign === 'function' && typeof candidate.alg === 'string';
}

/** Whether `value` is a WebCrypto `CryptoKey` (Node's own or any realm's). */
export function isCryptoKey(value: unknown): value is CryptoKey {
  if (typeof value !== 'object' || value === null) return false;
  const CryptoKeyClass = (globalThis as { CryptoKey?: new () => unknown }).CryptoKey;
  if (CryptoKeyClass !== undefined && value instanceof CryptoKeyClass) return true;
  const candidate = value as Partial<CryptoKey>;
  return (
    typeof candidate.type === 'string' &&
    typeof candidate.algorithm === 'object' &&
    Array.isArray(candidate.usages)
  );
}

/**
 * The JWS `alg` a key signs with: the signer's or JWK's `alg`, or, for a `CryptoKey`, the one its
 * WebCrypto algorithm implies.
 *
 * @throws JwsSigningError when none can be told, or it is not an asymmetric JWS algorithm.
 */
export function signingAlgorithm(key: SigningKey): string {
  let alg: string | undefined;
  if (isJwsSigner(key)) alg = key.alg;
  else if (isCryptoKey(key)) alg = cryptoKeyAlgorithm(key);
  else alg = key.alg;
  if (!alg) {
    throw new JwsSigningError('the signing key names no "alg" (set it on the JWK or the signer)');
  }
  if (!ASYMMETRIC_JWS_ALGORITHMS.includes(alg)) {
    throw new JwsSigningError(
      `"${alg}" is not an asymmetric JWS algorithm (one of ${ASYMMETRIC_JWS_ALGORITHMS.join(', ')})`,
    );
  }
  return alg;
}

/** The `kid` of a signer or JWK, if it names one. */
export function signingKeyId(key: SigningKey): string | undefined {
  if (isCryptoKey(key)) return undefined;
  return typeof key.kid === 'string' && key.kid ? key.kid : undefined;
}

function cryptoKeyAlgorithm(key: CryptoKey): string | undefined {
  const algorithm = key.algorithm as { name: string; hash?: { name: string }; namedCurve?: string };
  const bits = algorithm.hash?.name.replace('SHA-', '');
  switch (algorithm.name) {
    case 'RSASSA-PKCS1-v1_5':
      return bits ? `RS${bits}` : undefined;
    case 'RSA-PSS':
      return bits ? `PS${bits}` : undefined;
    case 'ECDSA':
      return { 'P-256': 'ES256', 'P-384': 'ES384', 'P-521': 'ES512' }[algorithm.namedCurve ?? ''];
    case 'Ed25519':
      return 'Ed25519';
    default:
      return algorithm.name.startsWith('ML-DSA-') ? algorithm.name : undefined;
  }
}

/**
 * Signs a compact JWS over `header` and `payload` with any {@link SigningKey}. A KMS or HSM signer
 * never exposes its key: it gets the signing input and returns the signature. `alg` (and `kid`,
 * when the key names one and the header does not) are set from the key; a header `alg` that
 * differs from the key's is refused.
 *
 * @throws JwsSigningError when the key or its signature cannot make a JWS (the cause is named;
 * the signer's own error is kept as `cause`).
 */
export async function signCompactJws(
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
  key: SigningKey,
): Promise<string> {
  const alg = signingAlgorithm(key);
  if (header.alg !== undefined && header.alg !== alg) {
    throw new JwsSigningError(`the header asks for "${String(header.alg)}", the key signs ${alg}`);
  }
  const kid = signingKeyId(key);
  const protectedHeader = { ...header, alg, ...(kid && header.kid === undefined ? { kid } : {}) };
  const payloadBytes = new TextEncoder().encode(JSON.stringify(payload));
  if (isJwsSigner(key)) return signWithSigner(protectedHeader, payloadBytes, key);
  let cryptoKey: CryptoKey;
  if (isCryptoKey(key)) {
    cryptoKey = key;
  } else {
    try {
      const imported = await importJWK(key, alg);
      if (imported instanceof Uint8Array) throw new JwsSigningError('a symmetric JWK');
      cryptoKey = imported;
    } catch (error) {
      throw new JwsSigningError(`the JWK could not be imported as a private ${alg} key`, {
        cause: error,
      });
    }
  }
  try {
    return await new CompactSign(payloadBytes).setProtectedHeader(protectedHeader).sign(cryptoKey);
  } catch (error) {
    const reason = error instanceof Error ? error.message : 'unknown error';
    throw new JwsSigningError(`signing with the ${alg} key failed (${reason})`, { cause: error });
  }
}

async function signWithSigner(
  header: Record<string, unknown>,
  payload: Uint8Array,
  signer: JwsSigner,
): Promise<string> {
  const signingInput = `${base64url(new TextEncoder().encode(JSON.stringify(header)))}.${base64url(payload)}`;
  let signature: unknown;
  try {
    signature = await signer.sign(new TextEncoder().encode(signingInput));
  } catch (error) {
    const reason = error instanceof Error ? error.name : 'unknown error';
    throw new JwsSigningError(`the ${signer.alg} signer failed (${reason})`, { cause: error });
  }
  // Duck-typed: a Buffer or Uint8Array from another realm (a vm context, a test runner) counts.
  if (!isBytes(signature) || signature.length === 0) {
    throw new JwsSigningError(`the ${signer.alg} signer returned no signature bytes`);
  }
  const ecdsaBytes = ECDSA_SIGNATURE_BYTES[signer.alg];
  if (ecdsaBytes !== undefined && signature.length !== ecdsaBytes) {
    throw new JwsSigningError(
      `the ${signer.alg} signer returned ${signature.length} bytes, not the ${ecdsaBytes}-byte raw r||s ` +
        'signature JWS needs (a DER signature must be converted: node:crypto dsaEncoding "ieee-p1363")',
    );
  }
  return `${signingInput}.${base64url(signature)}`;
}

function isBytes(value: unknown): value is Uint8Array {
  return (
    ArrayBuffer.isView(value) &&
    (value as { BYTES_PER_ELEMENT?: number }).BYTES_PER_ELEMENT === 1 &&
    !(value instanceof DataView)
  );
}

function base64url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}
