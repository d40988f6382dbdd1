import { Inject, Injectable, Logger } from '@nestjs/common';
import * as oauth from 'oauth4webapi';
import { ConfigurationError } from '../errors/configuration.error.js';
import { TokenVerificationError } from '../errors/token-verification.error.js';
import { ValidatorUnavailableError } from '../errors/validator-unavailable.error.js';
import type { VerifiedToken } from './verified-token.interface.js';
import { IssuerMetadataProvider } from '../idp/issuer-metadata.provider.js';
import { OIDC_CLIENT_CREDENTIALS_RESOLVED_OPTIONS } from '../options/resolved-options.js';
import {
  clientSecretBasic,
  createClientAuthentication,
} from '../idp/client-authentication.util.js';
import { audienceList, audienceMatches, toVerifiedToken } from './claims.util.js';
import { mediaType } from '../idp/media-type.util.js';
import { isInvalidJsonObjectResponse } from '../idp/oauth-response.util.js';
import { hasClientCredentials } from '../options/identity-options.util.js';
import { type ResolvedOptions } from '../options/resolved-options.js';
import { VerificationCache, verificationProfileId } from './verification-cache.provider.js';
import { CachedVerificationStrategy } from './cached-verification.strategy.js';

const REFRESH_TOKEN_TYPES = new Set([
  'refresh_token',
  'refresh',
  'urn:ietf:params:oauth:token-type:refresh_token',
]);
/** `token_type` values of sender-constrained tokens (RFC 9449 DPoP, and proof-of-possession). */
const KEY_BOUND_TOKEN_TYPES = new Set(['dpop', 'pop', 'mac']);

/**
 * Asks the ID service's introspection endpoint (RFC 7662) about each token: `POST` with
 * `token` and `token_type_hint=access_token` in the form body, authenticated as this service's
 * own client (`clientId` with `clientAuthMethod`: Basic by default, `client_secret_post` or
 * `private_key_jwt`; `client_secret_query` uses Basic here: ID services that take the client
 * secret in the token request's query document Basic for introspection).
 *
 * Accepted only when `active` is boolean `true`, `exp` (if any) has not passed and `nbf` (if any)
 * has, `iss` (if any) is the configured issuer, `aud` names one of ours when
 * `verification.audience` is set (an answer without `aud` is then refused), `token_type` is not a
 * refresh token and the token is not bound to a key (`cnf`, DPoP). The client is `client_id`,
 * else a non-standard `clientId` member (which some ID services answer with instead), else `sub`.
 *
 * The endpoint answering 401/403 means our own credentials are wrong: that is logged as a
 * misconfiguration and answered as `ValidatorUnavailableError` (503), like 5xx, non-JSON,
 * oversized or unreachable answers — never cached.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7662#section-2
 */
@Injectable()
export class IntrospectionVerificationStrategy extends CachedVerificationStrategy {
  private readonly logger = new Logger(IntrospectionVerificationStrategy.name);
  private readonly client: oauth.Client;
  private authentication?: Promise<oauth.ClientAuth>;
  private reportedMisconfiguration = false;

  constructor(
    @Inject(OIDC_CLIENT_CREDENTIALS_RESOLVED_OPTIONS) private readonly options: ResolvedOptions,
    private readonly metadata: IssuerMetadataProvider,
    cache: VerificationCache,
  ) {
    super(cache, verificationProfileId('introspection', options, [options.clientId ?? null]));
    this.client = { client_id: options.clientId ?? '' };
  }

  /** Throws at startup when introspection is configured without credentials. */
  static assertCredentials(options: ResolvedOptions): void {
    if (!hasClientCredentials(options)) {
      throw new ConfigurationError(
        options.clientId ? 'clientSecret' : 'clientId',
        "introspection needs this service's own client credentials (clientId with clientSecret, or privateKey for private_key_jwt)",
      );
    }
  }

  /** Introspects one token without the cache. */
  async verifyUncached(token: string): Promise<VerifiedToken> {
    const as = await this.metadata.requireForVerification('introspection_endpoint');
    const authenticate = await this.clientAuthentication();
    let response: Response;
    try {
      response = await oauth.introspectionRequest(as, this.client, authenticate, token, {
        additionalParameters: { token_type_hint: 'access_token' },
        ...this.metadata.requestOptions(),
      });
    } catch (error) {
      throw ValidatorUnavailableError.of(
        'OIDC_CC_INTROSPECTION_UNAVAILABLE',
        'The introspection endpoint could not be reached',
        error,
      );
    }
    if (response.status === 401 || response.status === 403) {
      await response.body?.cancel();
      if (!this.reportedMisconfiguration) {
        this.reportedMisconfiguration = true;
        this.logger.error(
          `The introspection endpoint refused this service's credentials (HTTP ${response.status}); check clientId, the client secret or key, and that the client may introspect`,
        );
      }
      throw ValidatorUnavailableError.of(
        'OIDC_CC_INTROSPECTION_UNAVAILABLE',
        `The introspection endpoint refused our credentials (${response.status})`,
      );
    }
    if (response.status !== 200) {
      await response.body?.cancel();
      throw ValidatorUnavailableError.of(
        'OIDC_CC_INTROSPECTION_UNAVAILABLE',
        `The introspection endpoint answered HTTP ${response.status}`,
      );
    }
    if (mediaType(response) !== 'application/json') {
      await response.body?.cancel();
      throw ValidatorUnavailableError.of(
        'OIDC_CC_INTROSPECTION_UNAVAILABLE',
        'The introspection endpoint answered something other than JSON',
      );
    }
    let body: oauth.IntrospectionResponse;
    try {
      body = await oauth.processIntrospectionResponse(as, this.client, response);
    } catch (error) {
      // A JSON object whose `active` is missing or not a boolean: the ID service did answer, and
      // an answer that does not say "active" is not one.
      if (isInvalidJsonObjectResponse(error)) throw TokenVerificationError.inactive();
      throw ValidatorUnavailableError.of(
        'OIDC_CC_INTROSPECTION_UNAVAILABLE',
        'The introspection response is invalid',
        error,
      );
    }
    this.reportedMisconfiguration = false;
    return this.toVerifiedToken(body);
  }

  private toVerifiedToken(body: oauth.IntrospectionResponse): VerifiedToken {
    if (body.active !== true) throw TokenVerificationError.inactive();
    const now = Math.floor(Date.now() / 1000);
    const tolerance = this.options.verification.clockToleranceSeconds;
    const { exp, nbf, iss, token_type: tokenType } = body as Record<string, unknown>;
    if (exp !== undefined) {
      if (!isFiniteNumber(exp)) {
        throw TokenVerificationError.invalid('The introspected "exp" is not a number');
      }
      if (exp <= now - tolerance) throw TokenVerificationError.expired();
    }
    if (nbf !== undefined && !(isFiniteNumber(nbf) && nbf <= now + tolerance)) {
      throw TokenVerificationError.invalid('The token is not valid yet');
    }
    if (iss !== undefined && iss !== this.options.issuer) {
      throw TokenVerificationError.invalid('The token was issued by another issuer');
    }
    // With verification.audience set, the answer must name one of them: an answer without "aud"
    // cannot show the token was meant for this service (RFC 9700 §2.3), as a JWT without one cannot.
    const expected = this.options.verification.audience;
    const aud = audienceList(body.aud);
    if (expected && (aud === undefined || !audienceMatches(aud, expected))) {
      throw TokenVerificationError.invalid(
        aud === undefined
          ? 'The introspection answer names no audience, and verification.audience is set'
          : 'The token is meant for another audience',
      );
    }
    if (typeof tokenType === 'string' && REFRESH_TOKEN_TYPES.has(tokenType.toLowerCase())) {
      throw TokenVerificationError.invalid('A refresh token is not an access token');
    }
    // Key-bound tokens (DPoP, mTLS) need a proof of possession this guard does not check.
    if (
      (body as Record<string, unknown>).cnf !== undefined ||
      (typeof tokenType === 'string' && KEY_BOUND_TOKEN_TYPES.has(tokenType.toLowerCase()))
    ) {
      throw TokenVerificationError.invalid(
        'The token is bound to a key: it is not accepted as a bearer token',
      );
    }
    return toVerifiedToken(body, 'introspection');
  }

  /** Built once: a private key is imported only the first time. */
  private clientAuthentication(): Promise<oauth.ClientAuth> {
    this.authentication ??= (async () => {
      if (this.options.clientAuthMethod === 'client_secret_query') {
        return clientSecretBasic(this.options.clientSecret ?? '');
      }
      return (await createClientAuthentication(this.options)).authenticate;
    })();
    return this.authentication;
  }
}

function isFiniteNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}
