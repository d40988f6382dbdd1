import {
  TokenVerificationError,
  type TokenVerificationErrorCode,
} from '../errors/token-verification.error.js';
import type { TokenConfirmation, VerifiedToken } from './verified-token.interface.js';
import { nullPrototypeCopy } from './claims.util.js';
import { tokenConfirmation } from './token-confirmation.util.js';
import { sanitizeForLog } from '../errors/sanitize.util.js';

const RECORD_VERSION = 1;
/** A record dated this far in the future (clocks of instances differ) is refused. */
const CLOCK_SKEW_ALLOWANCE_MS = 60_000;
const REFUSAL_CODES: ReadonlySet<string> = new Set<TokenVerificationErrorCode>([
  'OIDC_CC_TOKEN_INVALID',
  'OIDC_CC_TOKEN_EXPIRED',
  'OIDC_CC_TOKEN_INACTIVE',
  'OIDC_CC_TOKEN_MALFORMED',
]);

/** A verification result as another instance may read it: the outcome, never the token. */
export type SharedVerification =
  | { readonly value: VerifiedToken; readonly until: number }
  | { readonly refused: TokenVerificationError; readonly until: number };

/** What a reader allows: its own cache windows, whatever the writer was configured with. */
export interface SharedVerificationLimits {
  /** The shared key read, which the record must name. */
  key: string;
  now: number;
  ttlMs: number;
  negativeTtlMs: number;
  /** Records written before this time (a local `clear()`) are not taken. */
  notBefore: number;
}

/** The record of a positive result, kept until `until` (epoch ms). */
export function verifiedRecord(
  key: string,
  value: VerifiedToken,
  at: number,
  until: number,
): Record<string, unknown> {
  return {
    v: RECORD_VERSION,
    kind: 'verified',
    key,
    at,
    until,
    result: {
      clientId: value.clientId,
      subject: value.subject,
      scopes: value.scopes,
      expiresAt: value.expiresAt,
      issuer: value.issuer,
      audience: value.audience,
      claims: { ...value.claims },
    },
  };
}

/** The record of a refusal: its code and message (ours, never token content beyond what we log). */
export function refusedRecord(
  key: string,
  error: TokenVerificationError,
  at: number,
  until: number,
): Record<string, unknown> {
  return {
    v: RECORD_VERSION,
    kind: 'refused',
    key,
    at,
    until,
    code: error.code,
    message: error.message,
  };
}

/**
 * Reads a shared record back, or `undefined` for anything unexpected: another version, key or
 * kind, bad types, a result past its `exp`, or a window longer than this instance's own
 * `cacheTtlSeconds` / `negativeCacheTtlSeconds` counted from when it was written.
 */
export function readSharedVerification(
  record: Record<string, unknown> | undefined,
  limits: SharedVerificationLimits,
): SharedVerification | undefined {
  if (record === undefined || record.v !== RECORD_VERSION || record.key !== limits.key) {
    return undefined;
  }
  const { now } = limits;
  const at = record.at;
  const written = finite(at) && at > limits.notBefore && at <= now + CLOCK_SKEW_ALLOWANCE_MS;
  if (!written || !finite(record.until)) return undefined;
  if (record.kind === 'refused') {
    const until = Math.min(record.until, at + limits.negativeTtlMs);
    const { code, message } = record;
    if (!(now < until) || typeof code !== 'string' || !REFUSAL_CODES.has(code)) return undefined;
    const text = sanitizeForLog(message) || 'The token was refused';
    return { refused: new TokenVerificationError(code as TokenVerificationErrorCode, text), until };
  }
  if (record.kind !== 'verified') return undefined;
  const value = verifiedToken(record.result);
  if (value === undefined) return undefined;
  const untilExp = value.expiresAt === undefined ? Infinity : value.expiresAt * 1000;
  const until = Math.min(record.until, at + limits.ttlMs, untilExp);
  return now < until ? { value, until } : undefined;
}

/** A frozen {@link VerifiedToken} like the strategies build, or `undefined` if any field is off. */
function verifiedToken(result: unknown): VerifiedToken | undefined {
  if (!isObject(result)) return undefined;
  const { clientId, subject, scopes, expiresAt, issuer, audience, claims } = result;
  const valid =
    nonEmptyString(clientId) &&
    (subject === undefined || nonEmptyString(subject)) &&
    stringList(scopes) &&
    (expiresAt === undefined || finite(expiresAt)) &&
    (issuer === undefined || typeof issuer === 'string') &&
    (audience === undefined || stringList(audience)) &&
    isObject(claims);
  if (!valid) return undefined;
  // The key a bound token is bound to comes from its claims, as when it was verified.
  let confirmation: TokenConfirmation | undefined;
  try {
    confirmation = tokenConfirmation((claims as Record<string, unknown>).cnf);
  } catch {
    return undefined;
  }
  return Object.freeze({
    clientId,
    subject,
    scopes: Object.freeze([...scopes]) as string[],
    expiresAt,
    issuer,
    audience: audience && (Object.freeze([...audience]) as string[]),
    claims: nullPrototypeCopy(claims),
    ...(confirmation && { confirmation }),
  });
}

const finite = (value: unknown): value is number =>
  typeof value === 'number' && Number.isFinite(value);
const nonEmptyString = (value: unknown): value is string =>
  typeof value === 'string' && value.length > 0;
const stringList = (value: unknown): value is string[] =>
  Array.isArray(value) && value.every((item) => typeof item === 'string');
const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
