import { createPublicKey, KeyObject } from 'node:crypto';
import {
  calculateJwkThumbprint,
  CompactSign,
  exportJWK,
  generateKeyPair,
  importJWK,
  type CryptoKey,
  type JWK,
} from 'jose';
import { ConfigurationError } from '../errors/configuration.error.js';
import { signCompactJws } from '../idp/jws-signer.util.js';
import type { DpopSigner } from '../options/oidc-client-credentials-options.interface.js';
import type { ResolvedOptions } from '../options/resolved-options.js';

/** The members of a public JWK, per key type; everything else (`d`, `p`, `q`, …) stays out. */
const PUBLIC_MEMBERS: Readonly<Record<string, readonly string[]>> = {
  EC: ['kty', 'crv', 'x', 'y'],
  OKP: ['kty', 'crv', 'x'],
  RSA: ['kty', 'n', 'e'],
};

/**
 * The key a client proves possession of (RFC 9449): its public JWK as the proofs carry it, its
 * SHA-256 JWK thumbprint (the `jkt` an ID service binds tokens to) and a way to sign.
 */
export interface DpopKey {
  /** The JWS algorithm of every proof. */
  readonly alg: string;
  /** The public key only, as the `jwk` header of each proof. */
  readonly publicJwk: Readonly<JWK>;
  /** RFC 7638 SHA-256 thumbprint of {@link publicJwk}, base64url: the `cnf.jkt` of bound tokens. */
  readonly thumbprint: string;
  /**
   * The private JWK of a key this library generated, for the fleet's sealed shared copy; absent
   * for a key the application brought (every instance has it already).
   */
  readonly privateJwk?: Readonly<JWK>;
  /** A compact JWS of `header` and `payload` with this key. */
  sign(header: Record<string, unknown>, payload: Record<string, unknown>): Promise<string>;
}

/** A new key pair for `alg`, its private part exportable for the fleet's sealed shared copy. */
export async function generateDpopKey(alg: string): Promise<DpopKey> {
  const { privateKey } = await generateKeyPair(alg, { extractable: true, crv: crvOf(alg) });
  const privateJwk = await exportJWK(privateKey);
  return fromCryptoKey(privateKey, alg, { ...privateJwk, alg });
}

/** The key of a generated key's private JWK (e.g. the fleet's shared copy). */
export async function importGeneratedDpopKey(privateJwk: JWK, alg: string): Promise<DpopKey> {
  const key = await importJWK(privateJwk, alg);
  if (!isCryptoKey(key)) throw new TypeError('not an asymmetric key');
  return fromCryptoKey(key, alg, privateJwk);
}

/**
 * The DPoP key of a client's resolved options: the one it brought (`dpop.privateKey`) or a new
 * one of `dpop.alg`. Shared keys of a fleet are handled by the caller.
 *
 * @throws ConfigurationError when the brought key cannot be used, naming the option.
 */
export async function createDpopKey(
  dpop: NonNullable<ResolvedOptions['dpop']>,
  optionPrefix = '',
): Promise<DpopKey> {
  const brought = dpop.privateKey;
  if (brought === undefined) return generateDpopKey(dpop.alg);
  const option = `${optionPrefix}dpop.privateKey`;
  try {
    if (isCryptoKey(brought)) return await fromCryptoKey(brought, dpop.alg);
    if (isSigner(brought)) return await fromSigner(brought);
    const key = await importJWK(brought, dpop.alg);
    if (!isCryptoKey(key)) throw new TypeError('not an asymmetric key');
    return await fromCryptoKey(key, dpop.alg);
  } catch (error) {
    if (error instanceof ConfigurationError) throw error;
    throw new ConfigurationError(
      option,
      `cannot be used to sign ${dpop.alg} DPoP proofs (${(error as Error).name})`,
    );
  }
}

/**
 * Whether `value` is a WebCrypto key. Duck-typed: keys may come from another realm (a vm context,
 * a test runner), and Node 20 has no `CryptoKey` class on `node:crypto`'s `webcrypto`.
 */
export function isCryptoKey(value: unknown): value is CryptoKey {
  const key = value as Partial<CryptoKey> | null;
  return (
    typeof key === 'object' &&
    key !== null &&
    typeof key.type === 'string' &&
    typeof key.extractable === 'boolean' &&
    typeof key.algorithm === 'object' &&
    Array.isArray(key.usages)
  );
}

function isSigner(value: unknown): value is DpopSigner {
  return typeof (value as DpopSigner).sign === 'function';
}

async function fromCryptoKey(
  privateKey: CryptoKey,
  alg: string,
  privateJwk?: JWK,
): Promise<DpopKey> {
  const publicJwk = publicPart(
    createPublicKey(KeyObject.from(privateKey)).export({ format: 'jwk' }),
  );
  const header = { typ: 'dpop+jwt', alg, jwk: publicJwk };
  return Object.freeze({
    alg,
    publicJwk,
    thumbprint: await calculateJwkThumbprint(publicJwk, 'sha256'),
    ...(privateJwk === undefined ? {} : { privateJwk: Object.freeze({ ...privateJwk }) }),
    sign: (extra: Record<string, unknown>, payload: Record<string, unknown>) =>
      new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
        .setProtectedHeader({ ...header, ...extra })
        .sign(privateKey),
  });
}

async function fromSigner(signer: DpopSigner): Promise<DpopKey> {
  const publicJwk = publicPart(signer.jwk);
  const header = { typ: 'dpop+jwt', alg: signer.alg, jwk: publicJwk };
  return Object.freeze({
    alg: signer.alg,
    publicJwk,
    thumbprint: await calculateJwkThumbprint(publicJwk, 'sha256'),
    sign: (extra: Record<string, unknown>, payload: Record<string, unknown>) =>
      signCompactJws({ ...header, ...extra }, payload, signer),
  });
}

/** The public members of a JWK, frozen; a key type without them is refused. */
export function publicPart(jwk: JWK): Readonly<JWK> {
  const members = PUBLIC_MEMBERS[jwk.kty ?? ''];
  if (members === undefined) throw new TypeError(`kty ${String(jwk.kty)} is not asymmetric`);
  const picked: Record<string, unknown> = {};
  for (const name of members) {
    const value = (jwk as Record<string, unknown>)[name];
    if (typeof value !== 'string') throw new TypeError(`the public key has no ${name}`);
    picked[name] = value;
  }
  return Object.freeze(picked as JWK);
}

function crvOf(alg: string): string | undefined {
  return alg === 'EdDSA' ? 'Ed25519' : undefined;
}
