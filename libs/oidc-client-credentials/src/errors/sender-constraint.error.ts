import {
  OidcClientCredentialsError,
  type OidcClientCredentialsErrorCode,
} from './oidc-client-credentials.error.js';

/** Codes of a refused proof of possession (DPoP proof, client certificate). */
export type SenderConstraintErrorCode = Extract<
  OidcClientCredentialsErrorCode,
  | 'OIDC_CC_DPOP_PROOF_INVALID'
  | 'OIDC_CC_DPOP_NONCE_REQUIRED'
  | 'OIDC_CC_TOKEN_BINDING_INVALID'
  | 'OIDC_CC_DPOP_REPLAY_CHECK_UNAVAILABLE'
>;

/** The authentication scheme whose challenge carries the refusal. */
export type ChallengeScheme = 'Bearer' | 'DPoP';

/**
 * A sender-constrained token (RFC 9449 DPoP, RFC 8705 mTLS) without a valid proof that the caller
 * holds its key:
 *
 * - `OIDC_CC_DPOP_PROOF_INVALID`: the `DPoP` proof is missing, malformed, replayed or does not
 *   match the request or the token (401 `invalid_dpop_proof`);
 * - `OIDC_CC_DPOP_NONCE_REQUIRED`: the proof lacks a current server nonce (401 `use_dpop_nonce`
 *   with a fresh `DPoP-Nonce`);
 * - `OIDC_CC_TOKEN_BINDING_INVALID`: the token is sent with the wrong scheme, is not bound as this
 *   service requires, or the client certificate is not the one it is bound to (401 `invalid_token`);
 * - `OIDC_CC_DPOP_REPLAY_CHECK_UNAVAILABLE`: the store that remembers proofs cannot answer, so a
 *   replay cannot be ruled out (503).
 *
 * `message` is fixed text of this library, safe to answer as `error_description`: never a token,
 * proof or certificate.
 */
export class SenderConstraintError extends OidcClientCredentialsError {
  constructor(
    override readonly code: SenderConstraintErrorCode,
    message: string,
    /** The challenge that carries the error: the scheme the request used, or the one it needed. */
    readonly scheme: ChallengeScheme = 'DPoP',
    /** With `OIDC_CC_DPOP_NONCE_REQUIRED`: the nonce to send in `DPoP-Nonce`. */
    readonly nonce?: string,
  ) {
    super(code, message);
  }

  /** `OIDC_CC_DPOP_PROOF_INVALID` with a fixed reason. */
  static proof(message: string): SenderConstraintError {
    return new SenderConstraintError('OIDC_CC_DPOP_PROOF_INVALID', message);
  }

  /** `OIDC_CC_TOKEN_BINDING_INVALID`, answered in the `scheme` challenge. */
  static binding(message: string, scheme: ChallengeScheme): SenderConstraintError {
    return new SenderConstraintError('OIDC_CC_TOKEN_BINDING_INVALID', message, scheme);
  }
}
