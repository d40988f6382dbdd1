import type { ExecutionContext } from '@nestjs/common';
import { OidcClientCredentialsError } from '../errors/oidc-client-credentials.error.js';
import { TokenVerificationError } from '../errors/token-verification.error.js';
import type { VerifiedToken } from '../strategies/verified-token.interface.js';
import type { TransportAdapter } from './transports/transport-adapter.interface.js';
import { transportAdapter } from './transports/transport-adapters.js';

/**
 * The verified token of the object it was checked for (request, message context), under a symbol
 * of this module only: no other code can read or forge it, and a JSON body never carries a symbol.
 * Adding it gives every request the same one extra shape; a `WeakMap` entry per request cost
 * about 1 µs to insert, and more in the garbage collector, on every request.
 */
const VERIFIED_TOKEN = Symbol('nest-oidc-client-credentials.verifiedToken');
type Carrying = { [VERIFIED_TOKEN]?: VerifiedToken };
/** Where the tokens of frozen or sealed carriers are kept. */
const verifiedTokens = new WeakMap<object, VerifiedToken>();
/**
 * The verified tokens of a carrier that outlives a request (a WebSocket client) by the handler
 * they were checked for. Its messages interleave, so a token answers only for a handler the guard
 * checked it for, never for a public or unguarded one.
 */
const tokensByHandler = new WeakMap<object, Map<unknown, VerifiedToken>>();

/**
 * The verified token the guard attached to a request (or to the `ExecutionContext` of any
 * transport's call), or `undefined` when the route is public or unguarded. For interceptors, other
 * guards (e.g. a rate-limit tracker per client) and middleware that runs after the guard. For
 * WebSocket messages pass the `ExecutionContext`: a socket's tokens are kept per handler.
 *
 * @example
 * const clientId = getVerifiedToken(context)?.clientId;
 */
export function getVerifiedToken(target: object): VerifiedToken | undefined {
  if (!isExecutionContext(target)) return keptFor(target);
  const adapter = transportAdapter(target.getType());
  const carrier = adapter?.carrier(target);
  if (adapter === undefined || carrier === undefined) return undefined;
  if (adapter.carrierOutlivesRequest) return tokensByHandler.get(carrier)?.get(target.getHandler());
  return keptFor(carrier);
}

/**
 * The token kept for `carrier` itself (an own property only, never one its prototype has). A
 * carrier frozen after an earlier check keeps its later tokens in the map, which is asked first.
 */
function keptFor(carrier: object): VerifiedToken | undefined {
  const kept = verifiedTokens.get(carrier);
  if (kept !== undefined) return kept;
  return Object.hasOwn(carrier, VERIFIED_TOKEN) ? (carrier as Carrying)[VERIFIED_TOKEN] : undefined;
}

/**
 * The verified token of the current request, for the parameter decorators. Throws when there is
 * none, so a decorator on a route the guard did not check can never yield `undefined` for a
 * security decision (the request fails with 500, which a first test run shows at once).
 */
export function requireVerifiedToken(context: ExecutionContext, decorator: string): VerifiedToken {
  const verified = getVerifiedToken(context);
  if (!verified) {
    throw new OidcClientCredentialsError(
      'OIDC_CC_VERIFIED_TOKEN_MISSING',
      `${decorator} needs ClientTokenGuard on this route (it is unguarded or marked @Public())`,
    );
  }
  return verified;
}

/**
 * Keeps a verified token where {@link getVerifiedToken} finds it: for the carrier of the context
 * (per handler when the carrier outlives the request).
 */
export function keepVerifiedToken(
  context: ExecutionContext,
  adapter: TransportAdapter,
  verified: VerifiedToken,
): void {
  const carrier = adapter.carrier(context);
  if (!carrier) return;
  if (!adapter.carrierOutlivesRequest) {
    if (Object.isExtensible(carrier)) (carrier as Carrying)[VERIFIED_TOKEN] = verified;
    else verifiedTokens.set(carrier, verified);
    return;
  }
  let byHandler = tokensByHandler.get(carrier);
  if (!byHandler) tokensByHandler.set(carrier, (byHandler = new Map()));
  byHandler.set(context.getHandler(), verified);
}

/**
 * A strategy's result, refused when it is not a well-formed {@link VerifiedToken} (a strategy
 * bug, answered 503) or when its `expiresAt` has passed (a stale cached result, 401).
 */
export function checkedVerifiedToken(
  result: unknown,
  clockToleranceSeconds: number,
  nowMs: number = Date.now(),
): VerifiedToken {
  if (!isVerifiedToken(result)) {
    throw new TypeError('The verification strategy returned a malformed result');
  }
  const now = Math.floor(nowMs / 1000);
  if (result.expiresAt !== undefined && result.expiresAt + clockToleranceSeconds <= now) {
    throw new TokenVerificationError('OIDC_CC_TOKEN_EXPIRED', 'The verified token has expired');
  }
  return result;
}

function isVerifiedToken(value: unknown): value is VerifiedToken {
  if (typeof value !== 'object' || value === null) return false;
  const token = value as Partial<VerifiedToken>;
  return (
    typeof token.clientId === 'string' &&
    token.clientId.length > 0 &&
    Array.isArray(token.scopes) &&
    allStrings(token.scopes) &&
    (token.subject === undefined || typeof token.subject === 'string') &&
    (token.expiresAt === undefined || Number.isFinite(token.expiresAt)) &&
    typeof token.claims === 'object' &&
    token.claims !== null
  );
}

/** Whether every element is a string (a loop: no closure per check, on every request). */
function allStrings(values: readonly unknown[]): boolean {
  for (let i = 0; i < values.length; i += 1) {
    if (typeof values[i] !== 'string') return false;
  }
  return true;
}

function isExecutionContext(value: object): value is ExecutionContext {
  const context = value as Partial<ExecutionContext>;
  return (
    typeof context.getType === 'function' &&
    typeof context.getHandler === 'function' &&
    typeof context.switchToHttp === 'function'
  );
}
