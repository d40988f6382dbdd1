import { jwtVerify } from 'jose';
import { sanitizeForLog } from '../errors/sanitize.util.js';
import { TokenVerificationError } from '../errors/token-verification.error.js';
import { ValidatorUnavailableError } from '../errors/validator-unavailable.error.js';
import { printableUrl } from '../idp/endpoint-failure.util.js';
import { mediaType } from '../idp/media-type.util.js';
import type { ResolvedOptions } from '../options/resolved-options.js';
import type { JwksProvider } from './jwks.provider.js';
import {
  jwsSignaturePolicy,
  withSignatureKey,
  type JwsSignaturePolicy,
} from './jws-signature.util.js';
import { decodeJsonObject, parseCompactJws } from './jwt-shape.util.js';

/** The media type (and, without `application/`, the `typ`) of a signed introspection answer. */
export const SIGNED_INTROSPECTION_TYPE = 'application/token-introspection+jwt';

/** What a signed introspection answer must show: who signed it and for whom. */
export interface SignedIntrospectionCheck {
  readonly issuer: string;
  readonly clientId: string;
  readonly clockToleranceSeconds: number;
  /** The issuer's JWKS and `verification.algorithms`; the answer may be as long as a response. */
  readonly policy: JwsSignaturePolicy;
}

/** The check of signed answers for these options, with this issuer's JWKS. */
export function signedIntrospectionCheck(
  options: ResolvedOptions,
  jwks: JwksProvider,
): SignedIntrospectionCheck {
  return {
    issuer: options.issuer,
    clientId: options.clientId ?? '',
    clockToleranceSeconds: options.verification.clockToleranceSeconds,
    policy: { ...jwsSignaturePolicy(options, jwks), maxTokenLength: options.http.maxResponseBytes },
  };
}

/**
 * The introspection answer inside a signed one (RFC 9701): a JWT of media type and `typ`
 * `token-introspection+jwt`, signed with a key of the issuer's JWKS under an allowed algorithm,
 * `iss` the issuer, `aud` this client, `iat` present, its `token_introspection` claim a JSON
 * object. Anything else — a JSON answer, a foreign key, another `iss` or `aud` — is not an answer
 * to trust: `ValidatorUnavailableError` (503, `OIDC_CC_INTROSPECTION_UNAVAILABLE`), never a verdict
 * on the token.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9701#section-5
 */
export async function readSignedIntrospection(
  response: Response,
  endpoint: string,
  check: SignedIntrospectionCheck,
): Promise<Record<string, unknown>> {
  const where = `POST ${printableUrl(endpoint)}`;
  const type = mediaType(response);
  if (type !== SIGNED_INTROSPECTION_TYPE) {
    await response.body?.cancel();
    const named = sanitizeForLog(type, 60) ?? 'no content-type';
    throw refused(`${where} answered ${named}, not a signed answer (${SIGNED_INTROSPECTION_TYPE})`);
  }
  const jwt = (await response.text()).trim();
  try {
    const jws = parseCompactJws(jwt, check.policy.maxTokenLength);
    if (!check.policy.algorithms.has(jws.header.alg)) {
      throw TokenVerificationError.invalid('its algorithm is not in verification.algorithms');
    }
    const typ = typeof jws.header.typ === 'string' ? jws.header.typ.toLowerCase() : undefined;
    if (typ !== 'token-introspection+jwt' && typ !== SIGNED_INTROSPECTION_TYPE) {
      throw TokenVerificationError.invalid('its "typ" is not token-introspection+jwt');
    }
    decodeJsonObject(jws.encodedPayload, 'payload');
    const { payload } = await withSignatureKey(jws, check.policy, (key, algorithms) =>
      jwtVerify(jwt, key, {
        algorithms,
        issuer: check.issuer,
        audience: check.clientId,
        requiredClaims: ['iat'],
        clockTolerance: check.clockToleranceSeconds,
      }),
    );
    const answer = payload.token_introspection;
    if (typeof answer !== 'object' || answer === null || Array.isArray(answer)) {
      throw TokenVerificationError.invalid('its "token_introspection" claim is not a JSON object');
    }
    return answer as Record<string, unknown>;
  } catch (error) {
    if (error instanceof ValidatorUnavailableError) throw error;
    const reason =
      error instanceof TokenVerificationError
        ? sanitizeForLog(joseMessage(error) ?? error.message, 200)
        : 'unreadable';
    throw refused(`${where} answered a signed answer that is refused: ${reason}`, error);
  }
}

function refused(message: string, cause?: unknown): ValidatorUnavailableError {
  return ValidatorUnavailableError.of(
    'OIDC_CC_INTROSPECTION_UNAVAILABLE',
    `Introspection failed: ${message}`,
    cause,
  );
}

/** The message jose gave for a refusal it made (fixed texts naming a claim, never its value). */
function joseMessage(error: TokenVerificationError): string | undefined {
  const cause = error.cause as { message?: unknown } | undefined;
  return typeof cause?.message === 'string' ? cause.message : undefined;
}
