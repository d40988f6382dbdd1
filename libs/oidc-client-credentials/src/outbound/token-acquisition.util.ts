import type { Logger } from '@nestjs/common';
import { TokenRequestError } from '../errors/token-request.error.js';
import {
  authenticationForRequest,
  type ClientAuthentication,
} from '../idp/client-authentication.util.js';
import type { IssuerMetadataProvider } from '../idp/issuer-metadata.provider.js';
import type { TokenClientEvent } from '../observability/oidc-client-credentials-events.interface.js';
import type { OidcClientCredentialsEvents } from '../observability/oidc-client-credentials-events.provider.js';
import type { ResolvedOptions } from '../options/resolved-options.js';
import { fullJitterDelayMs, sleep } from './backoff.util.js';
import { CircuitBreaker } from './circuit-breaker.util.js';
import { createCacheEntry, type TokenCacheEntry } from './token-cache.store.js';
import { isTransient, requestToken } from './token-request.util.js';
import type { DpopProofs } from './dpop-proof.util.js';

/**
 * After a final refusal (400/401, a redirect, a malformed answer) new requests wait this long;
 * callers meanwhile get the same error at once instead of re-hitting the endpoint.
 */
export const REFUSAL_COOLDOWN_MS = 5_000;

/** A token request's outcome as a cache entry, and whether its lifetime lets it be cached. */
export type AcquiredEntry = TokenCacheEntry & { cacheable: boolean };

/**
 * The token requests of one client: attempts with backoff within a deadline, a cooldown after a
 * final refusal or a `Retry-After`, and the token endpoint's circuit breaker.
 */
export class TokenAcquisition {
  readonly circuit: CircuitBreaker;
  private cooldown?: { until: number; error: TokenRequestError };

  constructor(
    private readonly options: ResolvedOptions,
    private readonly metadata: IssuerMetadataProvider,
    private readonly logger: Logger,
    private readonly events: OidcClientCredentialsEvents,
    private readonly clientEvent: TokenClientEvent,
    /** The circuit of the token endpoint, when another acquisition of the client has it. */
    circuit?: CircuitBreaker,
  ) {
    this.circuit = circuit ?? new CircuitBreaker(options.circuitBreaker);
  }

  /** The error new requests get at once while a cooldown runs at `now`, else `undefined`. */
  cooldownError(now: number): TokenRequestError | undefined {
    const cooldown = this.cooldown;
    return cooldown && now < cooldown.until ? cooldown.error : undefined;
  }

  /** When the running cooldown ends, or `undefined` when none runs at `now`. */
  cooldownUntil(now: number): number | undefined {
    const cooldown = this.cooldown;
    return cooldown && now < cooldown.until ? cooldown.until : undefined;
  }

  /**
   * Attempts with backoff until success, a final failure or the deadline — unless the circuit is
   * open (fail fast, nothing sent) or half-open (this is its probe: one attempt). Before each
   * retry, `recheck` may supply a token obtained elsewhere meanwhile (another instance, through
   * the shared store), which ends the attempts without another request. `onAttempt` hears of
   * each request sent (for the acquisition's trace span).
   */
  async request(
    authentication: ClientAuthentication,
    recheck?: () => Promise<TokenCacheEntry | undefined>,
    onAttempt?: () => void,
    dpop?: DpopProofs,
  ): Promise<AcquiredEntry> {
    const permit = this.circuit.permit();
    if (permit === 'refuse') throw this.circuitOpenError();
    const maxAttempts = permit === 'probe' ? 1 : this.options.retry.maxAttempts;
    const { retry, tokenRenewal } = this.options;
    const deadline = Date.now() + retry.deadlineMs;
    const deadlineSignal = AbortSignal.timeout(retry.deadlineMs);
    const context = {
      metadata: this.metadata.forClient(this.options),
      clientId: this.options.clientId!,
      authentication,
      params: this.options.tokenParams,
      ...(dpop === undefined ? {} : { dpop }),
    };
    // A credential that comes from a provider or a file is asked for again once after an
    // invalid_client refusal: a secret rotated under a running service costs one more request.
    let reread = false;
    for (let attempt = 1; ; attempt += 1) {
      let sent: ClientAuthentication | undefined;
      try {
        sent = await authenticationForRequest(authentication, deadlineSignal);
        const sentAt = Date.now();
        onAttempt?.();
        const issued = await requestToken({ ...context, authentication: sent }, deadlineSignal);
        const entry = createCacheEntry(issued, sentAt, tokenRenewal);
        this.cooldown = undefined;
        this.recordCircuit(undefined);
        return entry;
      } catch (error) {
        if (!(error instanceof TokenRequestError)) {
          this.circuit.recordAbandoned();
          throw error;
        }
        if (
          !reread &&
          sent &&
          (await this.rereadAfterRefusal(error, authentication, sent, deadlineSignal))
        ) {
          reread = true;
          continue;
        }
        const delay = this.retryDelay(error, attempt, deadline, maxAttempts);
        if (delay === undefined) {
          this.recordFailure(error, attempt);
          this.recordCircuit(error);
          throw error;
        }
        this.logger.debug(
          `Token request attempt ${attempt} failed (${error.code}); retrying in ${delay} ms`,
        );
        await sleep(delay);
        const found = await recheck?.();
        if (found !== undefined) return { ...found, cacheable: false };
      }
    }
  }

  /**
   * Whether the credential refused by `error` (`invalid_client`) came from a provider or a file
   * that now gives another one: then one more request is worth sending. A source that fails now
   * leaves the refusal as it is.
   */
  private async rereadAfterRefusal(
    error: TokenRequestError,
    authentication: ClientAuthentication,
    sent: ClientAuthentication,
    signal: AbortSignal,
  ): Promise<boolean> {
    if (error.error !== 'invalid_client' || authentication.reread === undefined) return false;
    try {
      const changed = await authentication.reread(signal, sent);
      this.logger.debug(
        changed
          ? 'Token request refused (invalid_client); the credential source gave a new credential: trying it'
          : 'Token request refused (invalid_client); the credential source gives the same credential',
      );
      return changed;
    } catch (failure) {
      const code = failure instanceof TokenRequestError ? failure.code : 'unknown error';
      this.logger.debug(`Credential source failed after an invalid_client refusal (${code})`);
      return false;
    }
  }

  /** Milliseconds before the next attempt, or `undefined` when this failure is final. */
  private retryDelay(
    error: TokenRequestError,
    attempt: number,
    deadline: number,
    maxAttempts: number,
  ) {
    if (!isTransient(error) || attempt >= maxAttempts) return undefined;
    const retryAfterMs = (error.details.retryAfterSeconds ?? 0) * 1000;
    const delay = Math.max(fullJitterDelayMs(attempt, this.options.retry), retryAfterMs);
    return Date.now() + delay < deadline ? delay : undefined;
  }

  private recordFailure(error: TokenRequestError, attempts: number): void {
    const retryAfterMs = (error.details.retryAfterSeconds ?? 0) * 1000;
    if (retryAfterMs > 0) {
      this.cooldown = { until: Date.now() + retryAfterMs, error };
    } else if (!isTransient(error) && !neverReachedEndpoint(error)) {
      this.cooldown = { until: Date.now() + REFUSAL_COOLDOWN_MS, error };
    }
    const tries = attempts === 1 ? '1 attempt' : `${attempts} attempts`;
    const line = `Token request failed after ${tries}: ${error.code}: ${error.message}`;
    if (isTransient(error)) this.logger.warn(line);
    else this.logger.error(line);
  }

  /**
   * Feeds an acquisition's outcome to the circuit: a transient failure counts; any answer of the
   * endpoint (a token, or a refusal from a healthy service) closes it; a discovery failure, which
   * never reached the token endpoint, counts as neither.
   */
  private recordCircuit(error: TokenRequestError | undefined): void {
    const wasClosed = this.circuit.state === 'closed';
    if (error === undefined || (!isTransient(error) && !neverReachedEndpoint(error))) {
      this.circuit.recordSuccess();
      if (!wasClosed) {
        this.logger.log('Token endpoint circuit closed: the endpoint answers again');
        this.events.emit('token.circuit.closed', this.clientEvent);
      }
    } else if (isTransient(error)) {
      this.circuit.recordFailure();
      if (this.circuit.state === 'open') {
        this.logger.warn(
          `Token endpoint circuit opened after ${this.circuit.consecutiveFailures} consecutive failures; token requests fail fast for ${Math.round(this.options.circuitBreaker.cooldownMs / 1000)} s`,
        );
        this.events.emit('token.circuit.opened', {
          client: this.clientEvent.client,
          consecutiveFailures: this.circuit.consecutiveFailures,
          cooldownMs: this.options.circuitBreaker.cooldownMs,
        });
      }
    } else {
      this.circuit.recordAbandoned();
    }
  }

  private circuitOpenError(): TokenRequestError {
    const seconds = Math.max(1, Math.ceil(this.circuit.msUntilProbe / 1000));
    return new TokenRequestError(
      'OIDC_CC_TOKEN_ENDPOINT_CIRCUIT_OPEN',
      `Token endpoint circuit is open after ${this.circuit.consecutiveFailures} consecutive failures; next attempt in ${seconds} s`,
      { retryAfterSeconds: seconds },
    );
  }
}

/**
 * A failure before anything was sent to the token endpoint: discovery failed, or the credential
 * could not be read (a provider, a file). No cooldown (a file fixed a second later works at
 * once), and nothing for the circuit breaker, which is about the endpoint.
 */
function neverReachedEndpoint(error: TokenRequestError): boolean {
  return (
    error.code === 'OIDC_CC_DISCOVERY_FAILED' || error.code === 'OIDC_CC_CREDENTIAL_UNAVAILABLE'
  );
}
