import { Inject, Injectable, Logger } from '@nestjs/common';
import * as oauth from 'oauth4webapi';
import { TokenVerificationError } from '../errors/token-verification.error.js';
import { ValidatorUnavailableError } from '../errors/validator-unavailable.error.js';
import type { VerifiedToken } from './verified-token.interface.js';
import {
  answeredCall,
  printableUrl,
  readOAuthError,
  suggestsMovedEndpoint,
  unansweredCall,
} from '../idp/endpoint-failure.util.js';
import { IssuerMetadataProvider } from '../idp/issuer-metadata.provider.js';
import { sanitizeForLog } from '../errors/sanitize.util.js';
import { OIDC_CLIENT_CREDENTIALS_RESOLVED_OPTIONS } from '../options/resolved-options.js';
import { toVerifiedToken } from './claims.util.js';
import { mediaType } from '../idp/media-type.util.js';
import { isInvalidJsonObjectResponse } from '../idp/oauth-response.util.js';
import type { ResolvedOptions } from '../options/resolved-options.js';
import { VerificationCache, verificationProfileId } from './verification-cache.provider.js';
import { CachedVerificationStrategy } from './cached-verification.strategy.js';

/**
 * Checks a token by calling the ID service's userinfo endpoint with it (`GET`, bearer header): a
 * 200 JSON answer with a string `sub` means the token is live at the ID service, and `sub` names
 * the client (`clientId = sub`).
 *
 * What this proves is weaker than the other strategies: the token is live and names this
 * client — not that it is meant for this API. No audience, issuer or expiry can be checked (the
 * answer carries none), so `verification.audience` is not applied; results are cached for
 * `cacheTtlSeconds` at most. Many ID services refuse userinfo to client credentials tokens (no
 * `openid` scope, no user): that 401/403 is answered `invalid_token` and logged once with a hint.
 * A signed (`application/jwt`) answer is refused rather than decoded unverified. When the
 * endpoint cannot answer, `OIDC_CC_USERINFO_UNAVAILABLE` names the URL (never its query) and the
 * system error code or HTTP status.
 *
 * @see https://openid.net/specs/openid-connect-core-1_0.html#UserInfo
 */
@Injectable()
export class UserinfoVerificationStrategy extends CachedVerificationStrategy {
  /** A userinfo answer names the client, never the scopes its token was granted. */
  override readonly reportsScopes = false;
  private readonly logger = new Logger(UserinfoVerificationStrategy.name);
  private readonly client: oauth.Client;
  private readonly timeoutMs: number;
  private hintedRefusal = false;
  private hintedSigned = false;

  constructor(
    @Inject(OIDC_CLIENT_CREDENTIALS_RESOLVED_OPTIONS) options: ResolvedOptions,
    private readonly metadata: IssuerMetadataProvider,
    cache: VerificationCache,
  ) {
    super(cache, verificationProfileId('userinfo', options));
    // oauth4webapi wants a client; the userinfo request itself carries only the bearer token.
    this.client = { client_id: options.clientId ?? 'resource-server' };
    this.timeoutMs = options.http.timeoutMs;
  }

  /** Calls userinfo with one token, without the cache. */
  async verifyUncached(token: string): Promise<VerifiedToken> {
    const as = await this.metadata.requireForVerification('userinfo_endpoint');
    const endpoint = as.userinfo_endpoint!;
    let response: Response;
    try {
      response = await oauth.userInfoRequest(
        as,
        this.client,
        token,
        this.metadata.requestOptions(),
      );
    } catch (error) {
      if (suggestsMovedEndpoint(error)) this.metadata.reportEndpointFailure('userinfo_endpoint');
      throw unavailable(unansweredCall('GET', endpoint, error, this.timeoutMs), error);
    }
    if (response.status === 401 || response.status === 403) {
      await response.body?.cancel();
      if (!this.hintedRefusal) {
        this.hintedRefusal = true;
        this.logger.warn(
          `The userinfo endpoint refused a token (HTTP ${response.status}). Userinfo mode cannot validate machine-to-machine tokens that lack the openid scope; use 'jwt' or 'introspection'`,
        );
      }
      throw TokenVerificationError.invalid('The userinfo endpoint refused the token');
    }
    if (response.status !== 200) {
      if (suggestsMovedEndpoint(response)) this.metadata.reportEndpointFailure('userinfo_endpoint');
      const oauthError = await readOAuthError(response, [token]);
      throw unavailable(answeredCall('GET', endpoint, response.status, oauthError));
    }
    const contentType = mediaType(response);
    if (contentType === 'application/jwt') {
      await response.body?.cancel();
      if (!this.hintedSigned) {
        this.hintedSigned = true;
        this.logger.warn(
          'The userinfo endpoint answers signed JWTs, which userinfo mode does not accept',
        );
      }
      throw TokenVerificationError.invalid('Signed userinfo answers are not accepted');
    }
    if (contentType !== 'application/json') {
      await response.body?.cancel();
      const type = sanitizeForLog(contentType, 60) ?? 'no content-type';
      throw unavailable(`GET ${printableUrl(endpoint)} answered HTTP 200 with ${type}, not JSON`);
    }
    let body: oauth.UserInfoResponse;
    try {
      body = await oauth.processUserInfoResponse(as, this.client, oauth.skipSubjectCheck, response);
    } catch (error) {
      // A JSON object whose `sub` is missing, empty or not a string: an answer about the token
      // (it names no one), not a failing endpoint.
      if (isInvalidJsonObjectResponse(error)) {
        throw TokenVerificationError.invalid('The userinfo answer has no "sub"');
      }
      throw unavailable(`GET ${printableUrl(endpoint)} answered an invalid response`, error);
    }
    return toVerifiedToken(body as Record<string, unknown>, 'sub');
  }
}

/** The endpoint could not answer (`OIDC_CC_USERINFO_UNAVAILABLE`). */
function unavailable(reason: string, cause?: unknown): ValidatorUnavailableError {
  return ValidatorUnavailableError.of(
    'OIDC_CC_USERINFO_UNAVAILABLE',
    `Userinfo failed: ${reason}`,
    cause,
  );
}
