import { Logger } from '@nestjs/common';
import { TokenVerificationError } from '../../errors/token-verification.error.js';
import { ValidatorUnavailableError } from '../../errors/validator-unavailable.error.js';
import type { IssuerResolver } from '../../options/oidc-client-credentials-options.interface.js';
import { TokenVerificationStrategy } from '../token-verification.strategy.js';
import type { VerifiedToken } from '../verified-token.interface.js';
import type { IssuerVerifier } from './issuer-verifier.util.js';
import { unverifiedIssuer } from './unverified-issuer.util.js';

/**
 * The strategy of `verification.issuers`: each token goes to one trusted issuer's verifier and is
 * verified there alone (its JWKS, introspection endpoint and credentials, cache namespace and
 * audience).
 *
 * - A JWT goes to the entry whose `issuer` equals its unverified `iss` exactly (`iss` at most
 *   {@link MAX_ISSUER_LENGTH} characters, read before any lookup). An `iss` not listed is refused
 *   (401) without a request to anyone; no issuer is ever discovered from a token.
 * - Another token goes to the issuer `verification.issuerResolver` names; without a resolver it is
 *   introspected at each issuer whose strategy introspects, in the configured order, until one
 *   answers that it is active. When none does and one of them could not answer, the answer is 503.
 *
 * The verified token's `issuer` is the issuer that accepted it.
 */
export class IssuerRoutingStrategy extends TokenVerificationStrategy {
  override readonly reportsScopes: boolean;
  private readonly logger = new Logger(IssuerRoutingStrategy.name);
  private readonly byIssuer: ReadonlyMap<string, IssuerVerifier>;
  private readonly introspecting: readonly IssuerVerifier[];
  private reportedUnknownResolved = false;

  constructor(
    readonly verifiers: readonly IssuerVerifier[],
    private readonly maxTokenLength: number,
    private readonly resolver?: IssuerResolver,
  ) {
    super();
    this.byIssuer = new Map(verifiers.map((verifier) => [verifier.issuer, verifier]));
    this.introspecting = verifiers.filter((verifier) => verifier.introspectsOpaqueTokens);
    this.reportsScopes = verifiers.some((verifier) => verifier.strategy.reportsScopes !== false);
  }

  /** Verifies one token at the issuer it belongs to. */
  verify(token: string): Promise<VerifiedToken> {
    let iss: string | undefined;
    try {
      iss = unverifiedIssuer(token, this.maxTokenLength);
    } catch (error) {
      return Promise.reject(error);
    }
    if (iss !== undefined) {
      const verifier = this.byIssuer.get(iss);
      if (!verifier) {
        return Promise.reject(TokenVerificationError.invalid('The token issuer is not trusted'));
      }
      return verifier.strategy.verify(token).then((result) => verifiedBy(verifier, result));
    }
    if (this.resolver) return this.verifyResolved(token, this.resolver);
    return this.verifyInOrder(token);
  }

  private async verifyResolved(token: string, resolver: IssuerResolver): Promise<VerifiedToken> {
    let issuer: unknown;
    try {
      issuer = await resolver(token);
    } catch (error) {
      // The application's resolver failed: the token may well be valid (fail closed, 503).
      throw ValidatorUnavailableError.of(
        'OIDC_CC_VALIDATOR_UNAVAILABLE',
        'verification.issuerResolver failed',
        error,
      );
    }
    if (issuer === undefined) {
      throw TokenVerificationError.invalid(
        'verification.issuerResolver names no issuer for the token',
      );
    }
    const verifier = typeof issuer === 'string' ? this.byIssuer.get(issuer) : undefined;
    if (!verifier) {
      if (!this.reportedUnknownResolved) {
        this.reportedUnknownResolved = true;
        this.logger.warn(
          'verification.issuerResolver named an issuer that is not in verification.issuers; such tokens are refused',
        );
      }
      throw TokenVerificationError.invalid('The token issuer is not trusted');
    }
    return verifiedBy(verifier, await verifier.strategy.verify(token));
  }

  private async verifyInOrder(token: string): Promise<VerifiedToken> {
    let unavailable: ValidatorUnavailableError | undefined;
    for (const verifier of this.introspecting) {
      try {
        return verifiedBy(verifier, await verifier.strategy.verify(token));
      } catch (error) {
        if (error instanceof ValidatorUnavailableError) {
          unavailable ??= error;
          continue;
        }
        if (error instanceof TokenVerificationError) continue;
        throw error;
      }
    }
    if (unavailable) throw unavailable;
    if (this.introspecting.length === 0) {
      throw TokenVerificationError.invalid(
        'Only JWT access tokens are accepted: no trusted issuer introspects',
      );
    }
    throw TokenVerificationError.inactive();
  }
}

/** The result, saying which issuer accepted it. */
function verifiedBy(verifier: IssuerVerifier, token: VerifiedToken): VerifiedToken {
  return token.issuer === verifier.issuer ? token : { ...token, issuer: verifier.issuer };
}
