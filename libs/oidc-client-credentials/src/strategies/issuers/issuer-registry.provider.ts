import { Inject, Injectable, Optional } from '@nestjs/common';
import { SharedCache } from '../../cache/shared-cache.provider.js';
import { OidcClientCredentialsEvents } from '../../observability/oidc-client-credentials-events.provider.js';
import { OIDC_CLIENT_CREDENTIALS_RESOLVED_OPTIONS } from '../../options/resolved-options.js';
import type { ResolvedOptions } from '../../options/resolved-options.js';
import { VerificationCache } from '../verification-cache.provider.js';
import {
  createIssuerVerifier,
  issuerOptions,
  type IssuerVerifier,
} from './issuer-verifier.util.js';
import { IssuerRoutingStrategy } from './issuer-routing.strategy.js';

/**
 * The trusted issuers of `verification.issuers`, each with its own verifier (metadata, JWKS,
 * strategy, cache namespace), and the {@link IssuerRoutingStrategy} in front of them. Without
 * `verification.issuers` it holds nothing and the module verifies against the root `issuer`.
 */
@Injectable()
export class IssuerRegistry {
  /** The verifiers in configured order; empty without `verification.issuers`. */
  readonly verifiers: readonly IssuerVerifier[];
  private readonly router?: IssuerRoutingStrategy;

  constructor(
    @Inject(OIDC_CLIENT_CREDENTIALS_RESOLVED_OPTIONS) options: ResolvedOptions,
    cache: VerificationCache,
    @Optional() events?: OidcClientCredentialsEvents,
    @Optional() shared?: SharedCache,
  ) {
    const { issuers, issuerResolver, maxTokenLength } = options.verification;
    this.verifiers = (issuers ?? []).map((entry, index) =>
      createIssuerVerifier(issuerOptions(options, entry), index, { cache, events, shared }),
    );
    if (issuers) {
      this.router = new IssuerRoutingStrategy(this.verifiers, maxTokenLength, issuerResolver);
    }
  }

  /** The routing strategy when `verification.issuers` is set. */
  routing(): IssuerRoutingStrategy | undefined {
    return this.router;
  }

  /** The issuers tokens are accepted from: those listed, else the root `issuer`. */
  static trustedIssuers(options: ResolvedOptions): string[] {
    return options.verification.issuers?.map((entry) => entry.issuer) ?? [options.issuer];
  }
}
