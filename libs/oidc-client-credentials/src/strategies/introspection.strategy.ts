import { Inject, Injectable, Optional } from '@nestjs/common';
import * as oauth from 'oauth4webapi';
import { ConfigurationError } from '../errors/configuration.error.js';
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
import { OIDC_CLIENT_CREDENTIALS_RESOLVED_OPTIONS } from '../options/resolved-options.js';
import {
  clientSecretBasic,
  authenticationForRequest,
  createClientAuthentication,
  withSentCredentials,
  type ClientAuthentication,
} from '../idp/client-authentication.util.js';
import { audienceList, audienceMatches, toVerifiedToken } from './claims.util.js';
import { mediaType } from '../idp/media-type.util.js';
import { isInvalidJsonObjectResponse } from '../idp/oauth-response.util.js';
import { sanitizeForLog } from '../errors/sanitize.util.js';
import { hasClientCredentials } from '../options/identity-options.util.js';
import { type ResolvedOptions } from '../options/resolved-options.js';
import { VerificationCache, verificationProfileId } from './verification-cache.provider.js';
import { CachedVerificationStrategy } from './cached-verification.strategy.js';
import { JwksProvider } from './jwks.provider.js';
import {
  readSignedIntrospection,
  signedIntrospectionCheck,
  type SignedIntrospectionCheck,
} from './signed-introspection.util.js';

const REFRESH_TOKEN_TYPES = new Set([
  'refresh_token',
  'refresh',
  'urn:ietf:params:oauth:token-type:refresh_token',
]);
/** `token_type` values of proof-of-possession tokens this library has no proof check for. */
const KEY_BOUND_TOKEN_TYPES = new Set(['pop', 'mac']);

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
 * refresh token, and a key the token is bound to (`cnf`: DPoP's `jkt`, mTLS's `x5t#S256`) is one
 * the guard can check. The client is `client_id`,
 * else a non-standard `clientId` member (which some ID services answer with instead), else `sub`.
 *
 * The endpoint refusing to introspect (401/403, or a 4xx with an OAuth `error`) is a configuration
 * problem of this service, not the caller's fault and not an outage: it is answered as
 * `ValidatorUnavailableError` (503) with its own code, `OIDC_CC_INTROSPECTION_REFUSED`, whose
 * message names the status, the ID service's `error` and `error_description` and what to check —
 * our credentials (`invalid_client`), or the strategy (`unsupported_token_type`: some ID services
 * introspect only opaque tokens; JWT access tokens are verified with `'jwt'` or `'auto'`).
 * 5xx, 429, non-JSON, oversized or unreachable answers are `OIDC_CC_INTROSPECTION_UNAVAILABLE`.
 * Neither is cached; messages name the endpoint (never its query) and never the token.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7662#section-2
 */
@Injectable()
export class IntrospectionVerificationStrategy extends CachedVerificationStrategy {
  private readonly client: oauth.Client;
  private authentication?: Promise<ClientAuthentication>;
  /** With `verification.introspection.signedResponse`: how a signed answer (RFC 9701) is checked. */
  private readonly signedAnswers?: SignedIntrospectionCheck;

  constructor(
    @Inject(OIDC_CLIENT_CREDENTIALS_RESOLVED_OPTIONS) private readonly options: ResolvedOptions,
    private readonly metadata: IssuerMetadataProvider,
    cache: VerificationCache,
    @Optional() jwks?: JwksProvider,
  ) {
    const signed = options.verification.introspection?.signedResponse === true;
    super(
      cache,
      verificationProfileId('introspection', options, [
        options.clientId ?? null,
        ...(signed ? ['signed'] : []),
      ]),
    );
    this.client = { client_id: options.clientId ?? '' };
    if (signed && jwks) this.signedAnswers = signedIntrospectionCheck(options, jwks);
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
    const endpoint = as.introspection_endpoint!;
    // What this request sends is redacted from the answer's error, the token too.
    const { authenticate, secrets } = withSentCredentials(await this.requestAuthentication());
    let response: Response;
    try {
      response = await oauth.introspectionRequest(as, this.client, authenticate, token, {
        additionalParameters: { token_type_hint: 'access_token' },
        requestJwtResponse: this.signedAnswers !== undefined,
        ...this.metadata.requestOptions(),
      });
    } catch (error) {
      if (suggestsMovedEndpoint(error)) {
        this.metadata.reportEndpointFailure('introspection_endpoint');
      }
      const reason = unansweredCall('POST', endpoint, error, this.options.http.timeoutMs);
      throw unavailable(reason, error);
    }
    if (response.status !== 200) {
      throw await this.notAnswered(endpoint, response, [token, ...secrets]);
    }
    if (this.signedAnswers) {
      const answer = await readSignedIntrospection(response, endpoint, this.signedAnswers);
      if (typeof answer.active !== 'boolean') throw TokenVerificationError.inactive();
      return this.toVerifiedToken(answer as oauth.IntrospectionResponse);
    }
    if (mediaType(response) !== 'application/json') {
      await response.body?.cancel();
      const type = sanitizeForLog(mediaType(response), 60) ?? 'no content-type';
      throw unavailable(`POST ${printableUrl(endpoint)} answered HTTP 200 with ${type}, not JSON`);
    }
    let body: oauth.IntrospectionResponse;
    try {
      body = await oauth.processIntrospectionResponse(as, this.client, response);
    } catch (error) {
      // A JSON object whose `active` is missing or not a boolean: the ID service did answer, and
      // an answer that does not say "active" is not one.
      if (isInvalidJsonObjectResponse(error)) throw TokenVerificationError.inactive();
      throw unavailable(`POST ${printableUrl(endpoint)} answered an invalid response`, error);
    }
    return this.toVerifiedToken(body);
  }

  /**
   * Why the endpoint did not answer 200: it refuses to introspect for this service (a
   * configuration problem), or it is failing. `redact`: values the ID service may have echoed.
   */
  private async notAnswered(
    endpoint: string,
    response: Response,
    redact: readonly string[],
  ): Promise<ValidatorUnavailableError> {
    const { status } = response;
    const oauthError = await readOAuthError(response, redact);
    const answered = answeredCall('POST', endpoint, status, oauthError);
    if (status === 401 || status === 403 || oauthError.error === 'invalid_client') {
      return refused(
        `The introspection endpoint refused this service's credentials: ${answered}; check clientId, the client secret or key, and that the client may introspect`,
      );
    }
    if (oauthError.error === 'unsupported_token_type') {
      return refused(
        `The introspection endpoint does not introspect this kind of token: ${answered}; ID services that issue JWT access tokens may introspect only opaque ones: verify JWTs with verification.strategy 'jwt' or 'auto'`,
      );
    }
    // The endpoint is not there (404, 410) whatever the body says: the metadata may be outdated.
    if (suggestsMovedEndpoint(response)) {
      this.metadata.reportEndpointFailure('introspection_endpoint');
      return unavailable(answered);
    }
    const refusal = status >= 400 && status < 500 && status !== 408 && status !== 429;
    if (refusal && oauthError.error !== undefined) {
      return refused(`The introspection endpoint refused the request: ${answered}`);
    }
    return unavailable(answered);
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
    // Key-bound tokens: "cnf" is recorded (an unknown member is refused) and the guard demands
    // the proof of possession. A DPoP token must name its key; other proof-of-possession token
    // types have no proof this library checks.
    const type = typeof tokenType === 'string' ? tokenType.toLowerCase() : undefined;
    if (type !== undefined && KEY_BOUND_TOKEN_TYPES.has(type)) {
      throw TokenVerificationError.invalid(
        'The token is bound to a key in a way this service cannot check',
      );
    }
    const verified = toVerifiedToken(body, 'introspection');
    if (type === 'dpop' && verified.confirmation?.jkt === undefined) {
      throw TokenVerificationError.invalid('The DPoP token names no key ("cnf.jkt")');
    }
    return verified;
  }

  /**
   * The authentication of one introspection request: a secret provider or an assertion file is
   * read now, within the HTTP timeout; when it cannot be, the endpoint is unavailable (503).
   */
  private async requestAuthentication(): Promise<ClientAuthentication> {
    const authentication = await this.clientAuthentication();
    try {
      return await authenticationForRequest(
        authentication,
        AbortSignal.timeout(this.options.http.timeoutMs),
      );
    } catch (error) {
      throw unavailable(
        `client credentials unavailable: ${error instanceof Error ? error.message : 'unknown error'}`,
        error,
      );
    }
  }

  /** Built once: a private key is imported only the first time. */
  private clientAuthentication(): Promise<ClientAuthentication> {
    this.authentication ??= (async () => {
      const authentication = await createClientAuthentication(this.options);
      if (this.options.clientAuthMethod !== 'client_secret_query') return authentication;
      return {
        // A secret provider is refused with client_secret_query: the secret is a string here.
        authenticate: clientSecretBasic(String(this.options.clientSecret ?? '')),
        endpoint: (as) => as,
        secrets: authentication.secrets,
      };
    })();
    return this.authentication;
  }
}

/** The endpoint could not answer (`OIDC_CC_INTROSPECTION_UNAVAILABLE`). */
function unavailable(reason: string, cause?: unknown): ValidatorUnavailableError {
  return ValidatorUnavailableError.of(
    'OIDC_CC_INTROSPECTION_UNAVAILABLE',
    `Introspection failed: ${reason}`,
    cause,
  );
}

/** The endpoint will not introspect for this configuration (`OIDC_CC_INTROSPECTION_REFUSED`). */
function refused(message: string): ValidatorUnavailableError {
  return ValidatorUnavailableError.of('OIDC_CC_INTROSPECTION_REFUSED', message);
}

function isFiniteNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}
