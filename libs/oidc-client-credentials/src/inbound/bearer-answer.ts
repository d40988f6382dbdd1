import type { Logger } from '@nestjs/common';
import { ConfigurationError } from '../errors/configuration.error.js';
import { errorCode } from '../errors/error-code.util.js';
import { InsufficientScopeError } from '../errors/insufficient-scope.error.js';
import type { OidcClientCredentialsErrorCode } from '../errors/oidc-client-credentials.error.js';
import { sanitizeForLog } from '../errors/sanitize.util.js';
import { ValidatorUnavailableError } from '../errors/validator-unavailable.error.js';
import type { OidcClientCredentialsEvents } from '../observability/oidc-client-credentials-events.provider.js';
import { loggableMessage, logOncePerInterval } from './refusal-log.util.js';
import type {
  TransportRefusal,
  TransportRefusalCode,
} from './transports/transport-refusal.interface.js';
import { SenderConstraintError, type ChallengeScheme } from '../errors/sender-constraint.error.js';
import {
  buildBearerChallenge,
  buildDpopChallenge,
  type DpopErrorCode,
} from './www-authenticate.util.js';

/** `realm` of the challenge when `verification.realm` is not set. */
export const DEFAULT_REALM = 'api';

/** How the guard answers a refused request. */
export interface BearerAnswer {
  /** 400, 401, 403 or 503. */
  status: number;
  /**
   * RFC 6750 error code (or RFC 9449's, for DPoP); absent for a request without credentials and
   * for 503.
   */
  error?: DpopErrorCode;
  /**
   * The challenge that carries the error: `'DPoP'` when the request used the DPoP scheme or its
   * token needed it; else `Bearer` (the default).
   */
  scheme?: ChallengeScheme;
  /** A fresh server nonce, sent as `DPoP-Nonce` with `use_dpop_nonce`. */
  dpopNonce?: string;
  /** Short fixed text for `error_description` and the body's `message`; never from the token. */
  description: string;
  /** Required scopes, for `insufficient_scope`. */
  scope?: readonly string[];
  /** `Retry-After` in seconds, for 503. */
  retryAfterSeconds?: number;
}

/** The header that goes with an answer: `WWW-Authenticate`, or `Retry-After` for 503. */
export type ChallengeHeader = readonly [name: string, value: string];

const REALM = /^[\x20-\x21\x23-\x5b\x5d-\x7e]*$/;
const INVALID_TOKEN_DESCRIPTIONS: Partial<Record<OidcClientCredentialsErrorCode, string>> = {
  OIDC_CC_TOKEN_EXPIRED: 'The access token expired',
  OIDC_CC_TOKEN_INACTIVE: 'The access token is not active',
  OIDC_CC_TOKEN_MALFORMED: 'The access token is malformed',
};
const UNAVAILABLE_CODES: ReadonlySet<string> = new Set<OidcClientCredentialsErrorCode>([
  'OIDC_CC_DPOP_REPLAY_CHECK_UNAVAILABLE',
  'OIDC_CC_JWKS_UNAVAILABLE',
  'OIDC_CC_INTROSPECTION_UNAVAILABLE',
  'OIDC_CC_USERINFO_UNAVAILABLE',
  'OIDC_CC_DISCOVERY_FAILED',
  'OIDC_CC_VALIDATOR_UNAVAILABLE',
]);
/** 503s that no retry will cure: the ID service refuses to check tokens for this configuration. */
const CONFIGURATION_CODES: ReadonlySet<string> = new Set<OidcClientCredentialsErrorCode>([
  'OIDC_CC_INTROSPECTION_REFUSED',
]);
const REFUSAL_CODES: Readonly<Record<number, TransportRefusalCode>> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHENTICATED',
  403: 'FORBIDDEN',
};

/**
 * The challenge's realm: `verification.realm`, else {@link DEFAULT_REALM}. Refused at startup
 * unless it is printable ASCII without quotes or backslashes, so the header stays well-formed.
 */
export function bearerRealm(configured: string | undefined): string {
  const realm = configured ?? DEFAULT_REALM;
  if (!REALM.test(realm)) {
    throw new ConfigurationError(
      'verification.realm',
      'expected printable ASCII without double quotes or backslashes',
    );
  }
  return realm;
}

/**
 * Maps a failure to its answer. Errors are recognised by their stable `code`; anything else is
 * a bug and fails closed with 503 (a 401 would make correct clients drop good tokens).
 *
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3.1
 */
export function bearerAnswerFor(error: unknown, retryAfterSeconds: number): BearerAnswer {
  const code = errorCode(error);
  switch (code) {
    case 'OIDC_CC_TOKEN_MISSING':
      return { status: 401, description: 'Bearer token required' };
    case 'OIDC_CC_BEARER_REQUEST_INVALID':
      return {
        status: 400,
        error: 'invalid_request',
        description: 'Malformed bearer token request',
      };
    case 'OIDC_CC_INSUFFICIENT_SCOPE':
      return {
        status: 403,
        error: 'insufficient_scope',
        description: 'The access token lacks a required scope',
        scope: error instanceof InsufficientScopeError ? error.requiredScopes : undefined,
      };
    case 'OIDC_CC_SCOPES_UNVERIFIABLE':
      return {
        status: 403,
        error: 'insufficient_scope',
        description: "The route's required scopes cannot be checked by its verification strategy",
        scope: error instanceof InsufficientScopeError ? error.requiredScopes : undefined,
      };
    case 'OIDC_CC_NO_ACCEPTED_SCOPE':
      return {
        status: 403,
        error: 'insufficient_scope',
        description: 'The access token has none of the scopes this route accepts',
        scope: error instanceof InsufficientScopeError ? error.requiredScopes : undefined,
      };
    case 'OIDC_CC_CLIENT_NOT_ALLOWED':
      return {
        status: 403,
        error: 'insufficient_scope',
        description: 'The client is not allowed to call this service',
      };
    case 'OIDC_CC_ROUTE_CLIENT_NOT_ALLOWED':
      return {
        status: 403,
        error: 'insufficient_scope',
        description: 'The client is not allowed to call this route',
      };
    case 'OIDC_CC_CLAIMS_NOT_SATISFIED':
    case 'OIDC_CC_CLAIMS_CHECK_FAILED':
      return {
        status: 403,
        error: 'insufficient_scope',
        description: 'The access token lacks a claim this route requires',
      };
    case 'OIDC_CC_DPOP_PROOF_INVALID':
    case 'OIDC_CC_DPOP_NONCE_REQUIRED':
    case 'OIDC_CC_TOKEN_BINDING_INVALID':
      return senderConstraintAnswer(error);
    case 'OIDC_CC_TOKEN_INVALID':
    case 'OIDC_CC_TOKEN_EXPIRED':
    case 'OIDC_CC_TOKEN_INACTIVE':
    case 'OIDC_CC_TOKEN_MALFORMED':
      return {
        status: 401,
        error: 'invalid_token',
        description: INVALID_TOKEN_DESCRIPTIONS[code] ?? 'The access token is invalid',
      };
  }
  return {
    status: 503,
    description: 'Token verification is temporarily unavailable',
    retryAfterSeconds:
      error instanceof ValidatorUnavailableError
        ? (error.retryAfterSeconds ?? retryAfterSeconds)
        : retryAfterSeconds,
  };
}

/** What the DPoP challenge says, when the service accepts DPoP tokens. */
export interface DpopChallengeOptions {
  /** The proofs' accepted algorithms (`algs`). */
  algorithms: readonly string[];
  /** `verification.dpop: 'required'`: no Bearer challenge, the DPoP one always. */
  required: boolean;
}

/**
 * `WWW-Authenticate` with the RFC 6750 challenge (naming the RFC 9728 metadata URL when
 * `verification.resourceMetadata` is set), or `Retry-After` for 503.
 *
 * With `dpop`, a `DPoP` challenge (RFC 9449 §7.1, with `algs`) comes too when the answer is for
 * the DPoP scheme or DPoP is required, and carries the error then; the `Bearer` challenge stays
 * (without the error) while bearer tokens are accepted. Both go in one header value.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3
 * @see https://www.rfc-editor.org/rfc/rfc9728#section-5.1
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7.1
 */
export function challengeHeader(
  realm: string,
  answer: BearerAnswer,
  resourceMetadata?: string,
  dpop?: DpopChallengeOptions,
): ChallengeHeader {
  if (answer.status === 503) return ['Retry-After', String(wholeRetryAfterSeconds(answer))];
  const onDpop = dpop !== undefined && (answer.scheme === 'DPoP' || dpop.required);
  const challenges: string[] = [];
  if (!dpop?.required) {
    const bearerError = onDpop ? undefined : answer.error;
    challenges.push(
      buildBearerChallenge({
        realm,
        error:
          bearerError === 'invalid_dpop_proof' || bearerError === 'use_dpop_nonce'
            ? undefined
            : bearerError,
        errorDescription: answer.description,
        scope: onDpop ? undefined : answer.scope,
        resourceMetadata,
      }),
    );
  }
  if (onDpop) {
    challenges.push(
      buildDpopChallenge({
        realm,
        algs: dpop.algorithms,
        error: answer.error,
        errorDescription: answer.description,
        scope: answer.scope,
        resourceMetadata,
      }),
    );
  }
  return ['WWW-Authenticate', challenges.join(', ')];
}

/** A refused proof of possession: its fixed reason, in the challenge of its scheme. */
function senderConstraintAnswer(error: unknown): BearerAnswer {
  if (!(error instanceof SenderConstraintError)) {
    return { status: 401, error: 'invalid_token', description: 'The access token is invalid' };
  }
  const answer: BearerAnswer = {
    status: 401,
    error:
      error.code === 'OIDC_CC_DPOP_PROOF_INVALID'
        ? 'invalid_dpop_proof'
        : error.code === 'OIDC_CC_DPOP_NONCE_REQUIRED'
          ? 'use_dpop_nonce'
          : 'invalid_token',
    scheme: error.scheme,
    description: error.message,
  };
  if (error.nonce !== undefined) answer.dpopNonce = error.nonce;
  return answer;
}

/** The answer as data, for the transports that have no headers. */
export function transportRefusalOf(answer: BearerAnswer): TransportRefusal {
  const refusal: TransportRefusal = {
    status: 'error',
    code: REFUSAL_CODES[answer.status] ?? 'SERVICE_UNAVAILABLE',
    statusCode: answer.status,
    message: answer.description,
  };
  if (answer.error) refusal.error = answer.error;
  if (answer.scope && answer.scope.length > 0) refusal.scope = answer.scope.join(' ');
  if (answer.status === 503) refusal.retryAfterSeconds = wholeRetryAfterSeconds(answer);
  return refusal;
}

/**
 * Reports a refusal as a `verification.failed` event and a log line. A 4xx is logged at debug
 * level with its code only. A 503 is logged once per cause (code and message) per minute, with how
 * many were left out since: a warning naming the cause when the ID service cannot answer (the
 * URL, the system error code or HTTP status, the ID service's error), an error when it refuses to
 * check tokens for this configuration, an error naming only the type for anything unexpected.
 * Only the messages of this library's 503 errors are logged, never another error's (which could
 * quote the token).
 */
export function reportRefusal(
  error: unknown,
  answer: BearerAnswer,
  logger: Logger,
  events: OidcClientCredentialsEvents | undefined,
): void {
  const code = errorCode(error);
  if (events?.observed('verification.failed')) {
    events.emit('verification.failed', { code: code ?? 'UNEXPECTED_ERROR', status: answer.status });
  }
  if (answer.status < 500) {
    logger.debug?.(`Bearer token refused with ${answer.status}: ${code}`);
    return;
  }
  const message = loggableMessage(error);
  const cause = `${code ?? ''}\n${message ?? ''}`;
  const because = message === undefined ? '' : `: ${message}`;
  if (code !== undefined && CONFIGURATION_CODES.has(code)) {
    const line = `Token verification misconfigured (${code})${because}; answered 503`;
    logOncePerInterval(logger, 'error', cause, line);
  } else if (code !== undefined && UNAVAILABLE_CODES.has(code)) {
    const line = `Token verification unavailable (${code})${because}; answered 503`;
    logOncePerInterval(logger, 'warn', cause, line);
  } else {
    const name = error instanceof Error ? sanitizeForLog(error.name, 60) : typeof error;
    const line = `Unexpected ${name}${code ? ` (${code})` : ''} while verifying a bearer token; answered 503`;
    logOncePerInterval(logger, 'error', `${code ?? ''}\n${name}`, line);
  }
}

/** A 503 answer's `Retry-After`, in whole seconds as the header and the refusals carry it. */
function wholeRetryAfterSeconds(answer: BearerAnswer): number {
  return Math.ceil(answer.retryAfterSeconds ?? 1);
}
