import type { generateKeyPair } from 'jose';

/** A WebCrypto private or public key, as jose's `generateKeyPair` returns them. */
export type SigningCryptoKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];

const CURVE_HASH: Record<string, string> = {
  'P-256': 'SHA-256',
  'P-384': 'SHA-384',
  'P-521': 'SHA-512',
};

/**
 * Signs a compact JWS over raw header and payload text (objects are JSON-encoded) with a WebCrypto
 * private key (RSASSA-PKCS1-v1_5, RSA-PSS, ECDSA or Ed25519); the header's `alg` is not checked.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7515#section-7.1
 */
export async function signCompact(
  header: string | object | Uint8Array,
  payload: string | object | Uint8Array,
  key: SigningCryptoKey,
): Promise<string> {
  const encode = (part: string | object | Uint8Array) =>
    Buffer.from(
      part instanceof Uint8Array ? part : typeof part === 'string' ? part : JSON.stringify(part),
    ).toString('base64url');
  const input = `${encode(header)}.${encode(payload)}`;
  const algorithm = key.algorithm as { name: string; hash?: { name: string }; namedCurve?: string };
  const params =
    algorithm.name === 'RSA-PSS'
      ? { name: 'RSA-PSS', saltLength: Number(algorithm.hash!.name.slice(4)) / 8 }
      : algorithm.name === 'ECDSA'
        ? { name: 'ECDSA', hash: CURVE_HASH[algorithm.namedCurve!] }
        : { name: algorithm.name };
  const signature = await crypto.subtle.sign(params, key, Buffer.from(input));
  return `${input}.${Buffer.from(signature).toString('base64url')}`;
}
