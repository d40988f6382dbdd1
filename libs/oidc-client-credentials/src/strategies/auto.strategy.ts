import { Inject, Injectable, Logger } from '@nestjs/common';
import { TokenVerificationError } from '../errors/token-verification.error.js';
import type { VerifiedToken } from './verified-token.interface.js';
import { IssuerMetadataProvider } from '../idp/issuer-metadata.provider.js';
import { OIDC_CLIENT_CREDENTIALS_RESOLVED_OPTIONS } from '../options/resolved-options.js';
import { isJwsShaped } from './jwt-shape.util.js';
import { hasClientCredentials } from '../options/identity-options.util.js';
import { type ResolvedOptions } from '../options/resolved-options.js';
import { VerificationCache, verificationProfileId } from './verification-cache.provider.js';
import { CachedVerificationStrategy } from './cached-verification.strategy.js';
import { IntrospectionVerificationStrategy } from './introspection.strategy.js';
import { JwtVerificationStrategy } from './jwt.strategy.js';

/**
 * The default strategy: a JWS-shaped token (three base64url segments whose header is an object
 * with an `alg`) is verified locally when the ID service has a `jwks_uri` (configured or
 * discovered); anything else is introspected. Routing looks only at the shape — the chosen
 * strategy then checks everything. Without introspection credentials (`clientId` and a secret
 * or key) tokens that are not JWTs are refused.
 *
 * Discovery failing (when it is needed to know the `jwks_uri`) is `ValidatorUnavailableError`.
 */
@Injectable()
export class AutoVerificationStrategy extends CachedVerificationStrategy {
  private readonly logger = new Logger(AutoVerificationStrategy.name);
  private readonly canIntrospect: boolean;
  private reportedNoIntrospection = false;

  constructor(
    @Inject(OIDC_CLIENT_CREDENTIALS_RESOLVED_OPTIONS) private readonly options: ResolvedOptions,
    private readonly metadata: IssuerMetadataProvider,
    private readonly jwt: JwtVerificationStrategy,
    private readonly introspection: IntrospectionVerificationStrategy,
    cache: VerificationCache,
  ) {
    super(cache, verificationProfileId('auto', options, [options.clientId ?? null]));
    this.canIntrospect = hasClientCredentials(options);
  }

  /**
   * Shared when it goes to introspection: not a JWT checked locally (faster than a round trip to
   * the store), and not a token this service refuses anyway for want of introspection credentials.
   */
  protected override shareResultOf(token: string): boolean {
    return this.canIntrospect && !isJwsShaped(token, this.options.verification.maxTokenLength);
  }

  /** Routes one token to the JWT or the introspection strategy, without the cache. */
  async verifyUncached(token: string): Promise<VerifiedToken> {
    if (isJwsShaped(token, this.options.verification.maxTokenLength) && (await this.hasJwksUri())) {
      return this.jwt.verifyUncached(token);
    }
    if (!this.canIntrospect) {
      if (!this.reportedNoIntrospection) {
        this.reportedNoIntrospection = true;
        this.logger.warn(
          'A token that is not a JWT was refused: introspection needs clientId and a client secret or key',
        );
      }
      throw TokenVerificationError.invalid(
        'Only JWT access tokens can be verified without introspection credentials',
      );
    }
    return this.introspection.verifyUncached(token);
  }

  private async hasJwksUri(): Promise<boolean> {
    if (this.options.endpoints.jwks) return true;
    return (await this.metadata.discoverForVerification()).jwks_uri !== undefined;
  }
}
