import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { SharedCache } from '../../cache/shared-cache.provider.js';
import {
  SenderConstraintError,
  type ChallengeScheme,
} from '../../errors/sender-constraint.error.js';
import {
  OIDC_CLIENT_CREDENTIALS_RESOLVED_OPTIONS,
  type ResolvedOptions,
} from '../../options/resolved-options.js';
import { tokenConfirmation } from '../../strategies/token-confirmation.util.js';
import type {
  TokenConfirmation,
  VerifiedToken,
} from '../../strategies/verified-token.interface.js';
import { certificateThumbprint } from '../../proof-of-possession/confirmation.util.js';
import { clientCertificateOf } from './certificate-thumbprint.util.js';
import { usedDpopScheme } from './dpop-authorization.util.js';
import { DpopNonces } from './dpop-nonce.util.js';
import { verifyDpopProof } from './dpop-proof.util.js';
import { ProofReplayStore } from './proof-replay.store.js';
import { headerLines } from '../bearer-token.util.js';
import { nodeRequestOf, requestTarget } from './request-target.util.js';

/** One request's token, as the guard's sender-constraint step sees it. */
export interface SenderConstraintInput {
  /** The access token as received. */
  token: string;
  verified: VerifiedToken;
  /**
   * The HTTP request (Express, Fastify, or the one a GraphQL operation came in), or `undefined`
   * on a transport that carries no DPoP proof and no client certificate (microservices, WebSocket).
   */
  request: object | undefined;
}

/**
 * Checks that the caller holds the key a sender-constrained token is bound to (`cnf`): a DPoP
 * proof for `cnf.jkt` (RFC 9449 §7), the TLS client certificate (or the `Client-Cert` header of a
 * trusted proxy) for `cnf["x5t#S256"]` (RFC 8705 §3), and `verification.dpop` / `verification.mtls`
 * `'required'`. A token bound to neither, sent with `Bearer`, costs one property read and no
 * promise. Proofs are remembered in {@link ProofReplayStore} (shared Redis with `cache.stores`);
 * server nonces come from {@link DpopNonces}.
 */
@Injectable()
export class SenderConstraintVerifier {
  private readonly logger = new Logger('OidcClientCredentialsSenderConstraint');
  private readonly v: ResolvedOptions['verification'];
  private readonly nonces?: DpopNonces;
  private readonly replays: ProofReplayStore;
  /** How long a proof's `jti` is remembered: every moment its `iat` would still be accepted. */
  private readonly replayWindowMs: number;

  constructor(
    @Inject(OIDC_CLIENT_CREDENTIALS_RESOLVED_OPTIONS) options: ResolvedOptions,
    @Optional() shared?: SharedCache,
  ) {
    this.v = options.verification;
    const sharedKey = options.cache.stores.length > 0 ? options.cache.encryptionKey : undefined;
    if (this.v.dpopNonce) this.nonces = new DpopNonces(sharedKey);
    this.replays = new ProofReplayStore(shared, this.logger);
    this.replayWindowMs = (this.v.dpopProofMaxAgeSeconds + 2 * this.v.clockToleranceSeconds) * 1000;
  }

  /** The JWS algorithms of DPoP proofs, for the challenge's `algs`. */
  get dpopAlgorithms(): readonly string[] {
    return this.v.dpopAlgorithms;
  }

  /** Whether only DPoP-bound tokens are accepted. */
  get dpopRequired(): boolean {
    return this.v.dpop === 'required';
  }

  /**
   * Refuses the request unless the caller proved possession of the token's key. Synchronous (no
   * promise) when the token is not DPoP-bound; a DPoP proof is checked asynchronously.
   *
   * @throws SenderConstraintError, or TokenVerificationError for a `cnf` that cannot be checked.
   */
  check(input: SenderConstraintInput): void | Promise<void> {
    const { verified, request } = input;
    const confirmation = confirmationOf(verified);
    const dpopScheme = usedDpopScheme(request);
    const scheme: ChallengeScheme = dpopScheme ? 'DPoP' : 'Bearer';
    if (
      confirmation === undefined &&
      !dpopScheme &&
      this.v.dpop !== 'required' &&
      this.v.mtls !== 'required'
    ) {
      return;
    }
    const x5t = confirmation?.['x5t#S256'];
    if (x5t !== undefined) this.checkCertificate(request, x5t, scheme);
    else if (this.v.mtls === 'required') {
      throw SenderConstraintError.binding(
        'The access token is not bound to a client certificate',
        scheme,
      );
    }
    const jkt = confirmation?.jkt;
    if (jkt === undefined) {
      if (dpopScheme) {
        throw SenderConstraintError.binding('The access token is not bound to a DPoP key', 'DPoP');
      }
      if (this.v.dpop === 'required') {
        throw SenderConstraintError.binding('The access token must be DPoP-bound', 'DPoP');
      }
      return;
    }
    if (request === undefined) {
      throw SenderConstraintError.binding(
        'The access token is bound to a DPoP key, and this transport carries no DPoP proof',
        'DPoP',
      );
    }
    if (!dpopScheme) {
      throw SenderConstraintError.binding(
        'The access token is bound to a DPoP key: send it with the DPoP scheme and a proof',
        'DPoP',
      );
    }
    return this.checkDpopProof(input.token, jkt, request);
  }

  /** RFC 9449 §4.3 and §7.1: one valid proof of this request, for this token, by its key. */
  private async checkDpopProof(token: string, jkt: string, request: object): Promise<void> {
    const lines = headerLines(nodeRequestOf(request), 'dpop');
    if (lines.length === 0) throw SenderConstraintError.proof('A DPoP proof is required');
    if (lines.length > 1) throw SenderConstraintError.proof('More than one DPoP header');
    const { method, htu } = requestTarget(request, this.v.trustForwardedHeaders);
    const now = Date.now();
    const proof = await verifyDpopProof(
      lines[0],
      {
        method,
        htu,
        accessToken: token,
        algorithms: this.v.dpopAlgorithms,
        maxAgeSeconds: this.v.dpopProofMaxAgeSeconds,
        clockToleranceSeconds: this.v.clockToleranceSeconds,
      },
      now,
    );
    if (proof.jkt !== jkt) {
      throw SenderConstraintError.proof(
        'The DPoP proof is signed by another key than the token is bound to',
      );
    }
    if (this.nonces && (proof.nonce === undefined || !this.nonces.accepts(proof.nonce, now))) {
      throw new SenderConstraintError(
        'OIDC_CC_DPOP_NONCE_REQUIRED',
        proof.nonce === undefined
          ? 'The DPoP proof must carry the server nonce'
          : 'The DPoP proof carries a stale or unknown nonce',
        'DPoP',
        this.nonces.current(now),
      );
    }
    await this.replays.remember(jkt, proof.jti, this.replayWindowMs, now);
  }

  /** RFC 8705 §3: the client certificate's SHA-256 thumbprint is the token's `x5t#S256`. */
  private checkCertificate(
    request: object | undefined,
    x5t: string,
    scheme: ChallengeScheme,
  ): void {
    if (request === undefined) {
      throw SenderConstraintError.binding(
        'The access token is bound to a client certificate, and this transport carries none',
        scheme,
      );
    }
    const der = clientCertificateOf(nodeRequestOf(request), this.v.clientCertificateHeader, scheme);
    if (der === undefined) {
      throw SenderConstraintError.binding(
        'The access token is bound to a client certificate, and none was presented',
        scheme,
      );
    }
    if (certificateThumbprint(der) !== x5t) {
      throw SenderConstraintError.binding(
        'The client certificate is not the one the access token is bound to',
        scheme,
      );
    }
  }
}

/**
 * What `cnf` the token is bound by: the strategy's record, else read from its claims (a custom
 * strategy's result), so a key-bound token is never taken for a bearer token.
 */
function confirmationOf(verified: VerifiedToken): TokenConfirmation | undefined {
  if (verified.confirmation !== undefined) return verified.confirmation;
  const cnf = (verified.claims as Record<string, unknown>).cnf;
  return cnf === undefined ? undefined : tokenConfirmation(cnf);
}
