import { randomBytes } from 'node:crypto';
import { calculateJwkThumbprint, EmbeddedJWK, errors, jwtVerify, type JWK } from 'jose';
import { OAuthError } from './oauth-error.js';

/** The token endpoint's DPoP mode (RFC 9449), an option of the fake ID service. */
export interface FakeDpopOptions {
  /**
   * Refuse token requests without a `DPoP` proof (`invalid_dpop_proof`). Default `false`: such a
   * request gets a bearer token, and one with a valid proof a DPoP-bound token.
   */
  required?: boolean;
  /**
   * Demand the service's current nonce in every proof (RFC 9449 §8): a proof without it gets
   * 400 `use_dpop_nonce` with a `DPoP-Nonce` header. Default `false`.
   */
  requireNonce?: boolean;
  /** Algorithms accepted in proofs. Default `['ES256', 'ES384', 'ES512', 'PS256', 'RS256', 'EdDSA']`. */
  algorithms?: string[];
  /** How far a proof's `iat` may be from the service's clock, in seconds. Default `60`. */
  maxAgeSeconds?: number;
}

/** Proof `jti`s remembered against replay; the oldest go first. */
const SEEN_JTIS = 10_000;

/**
 * Checks the DPoP proofs of token requests the way an ID service does (RFC 9449 §4.3): `typ`
 * `dpop+jwt`, an allowed asymmetric `alg`, a public `jwk` that verifies the signature, `htm`
 * POST, `htu` the token endpoint, a recent `iat`, a `jti` not seen before and, when required,
 * the current nonce. A valid proof binds the token to its key: `cnf.jkt` is the key's thumbprint
 * and `token_type` is `DPoP`.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-5
 */
export class TokenEndpointDpop {
  /** The nonce proofs must carry when `requireNonce` is on. */
  nonce = randomBytes(16).toString('base64url');
  private readonly seen = new Set<string>();

  constructor(
    private readonly options: FakeDpopOptions,
    private readonly nowSeconds: () => number,
  ) {}

  /** A new nonce: proofs with the old one get `use_dpop_nonce` from now on. */
  rotateNonce(): string {
    this.nonce = randomBytes(16).toString('base64url');
    return this.nonce;
  }

  /**
   * The thumbprint the token is bound to, or `undefined` for a request without a proof when
   * proofs are not required.
   *
   * @throws OAuthError 400 `invalid_dpop_proof` or `use_dpop_nonce`.
   */
  async check(
    header: string | string[] | undefined,
    tokenEndpoint: string,
  ): Promise<string | undefined> {
    if (header === undefined) {
      if (this.options.required) throw invalidProof('a DPoP proof is required');
      return undefined;
    }
    if (Array.isArray(header) || header.length > 8192) throw invalidProof('one DPoP header');
    let payload: Record<string, unknown>;
    let jwk: JWK;
    try {
      const verified = await jwtVerify(header, EmbeddedJWK, {
        typ: 'dpop+jwt',
        algorithms: this.options.algorithms ?? [
          'ES256',
          'ES384',
          'ES512',
          'PS256',
          'RS256',
          'EdDSA',
        ],
      });
      payload = verified.payload;
      jwk = verified.protectedHeader.jwk!;
    } catch (error) {
      const reason = error instanceof errors.JOSEError ? error.code : 'unreadable';
      throw invalidProof(`the DPoP proof does not verify (${reason})`);
    }
    if (['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'].some((member) => member in jwk)) {
      throw invalidProof('the proof jwk holds a private key');
    }
    const { htm, htu, iat, jti, nonce } = payload;
    if (htm !== 'POST') throw invalidProof('htm is not POST');
    if (htu !== tokenEndpoint) throw invalidProof('htu is not the token endpoint');
    const maxAge = this.options.maxAgeSeconds ?? 60;
    if (typeof iat !== 'number' || Math.abs(this.nowSeconds() - iat) > maxAge) {
      throw invalidProof('iat is not recent');
    }
    if (typeof jti !== 'string' || jti.length === 0 || jti.length > 256) {
      throw invalidProof('jti is missing');
    }
    if (this.options.requireNonce && nonce !== this.nonce) {
      throw new OAuthError(400, 'use_dpop_nonce', 'use the DPoP-Nonce given', {
        'dpop-nonce': this.nonce,
      });
    }
    if (this.seen.has(jti)) throw invalidProof('jti was used before');
    this.seen.add(jti);
    if (this.seen.size > SEEN_JTIS) this.seen.delete(this.seen.values().next().value!);
    return calculateJwkThumbprint(jwk, 'sha256');
  }

  /** Headers of every token endpoint answer: the current nonce, when nonces are required. */
  headers(): Record<string, string> {
    return this.options.requireNonce ? { 'dpop-nonce': this.nonce } : {};
  }
}

function invalidProof(description: string): OAuthError {
  return new OAuthError(400, 'invalid_dpop_proof', description);
}
