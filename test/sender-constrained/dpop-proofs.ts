import { createHash, randomUUID } from 'node:crypto';
import {
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  SignJWT,
  type CryptoKey,
  type JWK,
  type JWTPayload,
} from 'jose';

/** base64url of a string or bytes. */
export const b64u = (value: string | Uint8Array): string =>
  Buffer.from(value).toString('base64url');

/** RFC 9449 `ath`: base64url SHA-256 of the access token. */
export const ath = (token: string): string =>
  createHash('sha256').update(token, 'ascii').digest('base64url');

/** A client's DPoP key pair, making proofs as RFC 9449 §4.2 describes, or bent as a test asks. */
export class DpopKey {
  private constructor(
    readonly alg: string,
    readonly privateKey: CryptoKey,
    readonly publicJwk: JWK,
    readonly privateJwk: JWK,
    /** RFC 7638 thumbprint: the `cnf.jkt` of tokens bound to this key. */
    readonly jkt: string,
  ) {}

  static async generate(alg = 'ES256'): Promise<DpopKey> {
    const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
    const publicJwk = await exportJWK(publicKey);
    const privateJwk = await exportJWK(privateKey);
    return new DpopKey(
      alg,
      privateKey,
      publicJwk,
      privateJwk,
      await calculateJwkThumbprint(publicJwk),
    );
  }

  /**
   * A proof of `htm` `htu` for `token`: `typ` dpop+jwt, this key's public `jwk`, a fresh `jti`,
   * `iat` now and `ath`. `claims` replace or (as `undefined`) remove claims; `header` likewise.
   */
  proof(
    request: { htm: string; htu: string; token?: string },
    claims: JWTPayload & Record<string, unknown> = {},
    header: Record<string, unknown> = {},
  ): Promise<string> {
    const payload = withoutUndefined({
      jti: randomUUID(),
      htm: request.htm,
      htu: request.htu,
      iat: Math.floor(Date.now() / 1000),
      ath: request.token === undefined ? undefined : ath(request.token),
      ...claims,
    });
    const protectedHeader = withoutUndefined({
      typ: 'dpop+jwt',
      alg: this.alg,
      jwk: this.publicJwk,
      ...header,
    });
    return new SignJWT(payload)
      .setProtectedHeader(protectedHeader as { alg: string })
      .sign(this.privateKey);
  }
}

/** A compact JWS with the given header and payload and no signature (`alg: none`). */
export function unsignedProof(header: object, payload: object): string {
  return `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(payload))}.`;
}

/** The proof with one bit of its signature flipped. */
export function flipSignature(jws: string): string {
  const [header, payload, signature] = jws.split('.');
  const bytes = Buffer.from(signature, 'base64url');
  bytes[0] ^= 1;
  return `${header}.${payload}.${bytes.toString('base64url')}`;
}

function withoutUndefined<T extends Record<string, unknown>>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
