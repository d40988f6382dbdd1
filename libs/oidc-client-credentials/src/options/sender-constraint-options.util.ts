import { ConfigurationError } from '../errors/configuration.error.js';
import type {
  OidcClientCredentialsModuleOptions,
  VerificationOptions,
} from './oidc-client-credentials-options.interface.js';
import { DPOP_ALGORITHMS } from './dpop-algorithms.js';
import { oneOf, optionalBoolean, positive } from './option-values.util.js';

/** The `verification` keys about sender-constrained tokens (DPoP, mTLS), resolved here. */
export type SenderConstraintOptionKey =
  | 'dpop'
  | 'dpopAlgorithms'
  | 'dpopProofMaxAgeSeconds'
  | 'dpopNonce'
  | 'trustForwardedHeaders'
  | 'mtls'
  | 'clientCertificateHeader';

/** The resolved form of the keys of {@link SenderConstraintOptionKey}. */
export interface ResolvedSenderConstraintOptions {
  dpop: 'allowed' | 'required';
  dpopAlgorithms: readonly string[];
  dpopProofMaxAgeSeconds: number;
  dpopNonce: boolean;
  trustForwardedHeaders: boolean;
  mtls: 'allowed' | 'required';
  /** Absent: the TLS connection's certificate. */
  clientCertificateHeader?: 'client-cert';
}

/** Asymmetric JWS algorithms a DPoP proof may use (RFC 9449 §4.2): those a DPoP key may sign with. */
export const DPOP_PROOF_ALGORITHMS: readonly string[] = DPOP_ALGORITHMS;

const DEFAULT_DPOP_ALGORITHMS = ['ES256', 'ES384', 'ES512', 'PS256', 'RS256', 'EdDSA', 'Ed25519'];
/** A proof window longer than this would keep proofs replayable for too long. */
const MAX_PROOF_AGE_SECONDS = 600;

/**
 * Checks the sender-constrained token options of `verification` and applies their defaults.
 * `dpopNonce` with `cache.stores` needs `cache.encryptionKey`: the instances derive their nonces
 * from it, and without it each would refuse the others' nonces.
 */
export function resolveSenderConstraint(
  options: OidcClientCredentialsModuleOptions,
): ResolvedSenderConstraintOptions {
  const v: VerificationOptions = options.verification ?? {};
  const dpopAlgorithms = v.dpopAlgorithms ?? DEFAULT_DPOP_ALGORITHMS;
  if (
    !Array.isArray(dpopAlgorithms) ||
    dpopAlgorithms.length === 0 ||
    dpopAlgorithms.some((alg) => !DPOP_PROOF_ALGORITHMS.includes(alg))
  ) {
    throw new ConfigurationError(
      'verification.dpopAlgorithms',
      `expected a non-empty list out of ${DPOP_PROOF_ALGORITHMS.join(', ')} (asymmetric only)`,
    );
  }
  const dpopProofMaxAgeSeconds = positive(
    'verification.dpopProofMaxAgeSeconds',
    v.dpopProofMaxAgeSeconds,
    60,
  );
  if (dpopProofMaxAgeSeconds > MAX_PROOF_AGE_SECONDS) {
    throw new ConfigurationError(
      'verification.dpopProofMaxAgeSeconds',
      `expected at most ${MAX_PROOF_AGE_SECONDS} seconds`,
    );
  }
  const dpopNonce = optionalBoolean('verification.dpopNonce', v.dpopNonce, false);
  const cache = options.cache;
  if (dpopNonce && (cache?.stores?.length ?? 0) > 0 && cache?.encryptionKey === undefined) {
    throw new ConfigurationError(
      'verification.dpopNonce',
      'with cache.stores, set cache.encryptionKey: every instance derives its DPoP nonces from it, so that each accepts the nonces of the others',
    );
  }
  const clientCertificateHeader = v.clientCertificateHeader;
  if (clientCertificateHeader !== undefined && clientCertificateHeader !== 'client-cert') {
    throw new ConfigurationError(
      'verification.clientCertificateHeader',
      "expected 'client-cert' (the RFC 9440 Client-Cert header), or leave it out to read the TLS connection's certificate",
    );
  }
  return {
    dpop: oneOf('verification.dpop', v.dpop, ['allowed', 'required']),
    dpopAlgorithms: [...dpopAlgorithms],
    dpopProofMaxAgeSeconds,
    dpopNonce,
    trustForwardedHeaders: optionalBoolean(
      'verification.trustForwardedHeaders',
      v.trustForwardedHeaders,
      false,
    ),
    mtls: oneOf('verification.mtls', v.mtls, ['allowed', 'required']),
    clientCertificateHeader,
  };
}
