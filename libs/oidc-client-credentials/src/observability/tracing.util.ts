import {
  context,
  ProxyTracerProvider,
  SpanStatusCode,
  trace,
  type Attributes,
  type Span,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api';
import { errorCode } from '../errors/error-code.util.js';

/** The instrumentation scope of the library's spans (the tracer's name). */
export const TRACER_NAME = 'nest-oidc-client-credentials';

/** Names of the library's spans. */
export const SPAN_NAMES = {
  /** One `TokenProvider` acquisition: a cache hit, or a token from the shared cache or the ID service. */
  tokenAcquire: 'oidc.token.acquire',
  /** One verification of an inbound token by a `CachedVerificationStrategy`. */
  tokenVerify: 'oidc.token.verify',
} as const;

/** Where an acquired token came from: the in-process cache, the shared cache, or the ID service. */
export type TokenSource = 'cache' | 'shared' | 'network';

/** How long a cache hit trusts the last look at the tracer provider. */
export const CACHE_HIT_RECHECK_MS = 1000;

let noopProvider: TracerProvider | undefined;
let cacheHitCheckedAt = Number.NEGATIVE_INFINITY;
let cacheHitTraced = false;

/**
 * Whether an OpenTelemetry SDK registered a tracer provider: without one every span is a no-op, so
 * the library creates none (a cached `getToken()` stays a clock check). A few property reads.
 */
export function tracingEnabled(): boolean {
  const provider = trace.getTracerProvider();
  const delegate = provider instanceof ProxyTracerProvider ? provider.getDelegate() : provider;
  // The API's own no-op provider, what an unregistered proxy delegates to.
  noopProvider ??= new ProxyTracerProvider().getDelegate();
  return delegate !== noopProvider;
}

function tracer(): Tracer {
  return trace.getTracer(TRACER_NAME);
}

/**
 * Records a `getToken()` answered from the in-process cache at `now` as an ended
 * `oidc.token.acquire` span (source `cache`), a child of the active span. Nothing at all when
 * tracing is off. The hot path looks at the tracer provider at most once per
 * {@link CACHE_HIT_RECHECK_MS} (reading it costs more than the rest of a cache hit): an SDK
 * registered later is seen within that time.
 */
export function traceTokenCacheHit(client: string, now: number): void {
  if (now - cacheHitCheckedAt >= CACHE_HIT_RECHECK_MS || now < cacheHitCheckedAt) {
    cacheHitCheckedAt = now;
    cacheHitTraced = tracingEnabled();
  }
  if (!cacheHitTraced) return;
  tracer()
    .startSpan(SPAN_NAMES.tokenAcquire, {
      attributes: {
        'oidc.client.name': client,
        'oidc.token.source': 'cache',
        'oidc.token.attempts': 0,
        'oidc.outcome': 'success',
      },
    })
    .end();
}

/**
 * The `oidc.token.acquire` span of one acquisition (a token request, or a read of the shared
 * cache), or `undefined` when tracing is off. Its attributes: the client's name, whether it is a
 * background renewal, the requests sent to the token endpoint, where the token came from, and the
 * outcome with the error's stable code. Never the token, a secret or a claim.
 */
export class TokenAcquireSpan {
  private attempts = 0;

  private constructor(private readonly span: Span) {}

  /**
   * A span for this acquisition, a child of the active span; a renewal's is a root span, since no
   * caller waits for it (and a renewal timer would otherwise chain each renewal to the last one).
   * `undefined` when tracing is off.
   */
  static start(client: string, renewal: boolean): TokenAcquireSpan | undefined {
    if (!tracingEnabled()) return undefined;
    const span = tracer().startSpan(SPAN_NAMES.tokenAcquire, {
      root: renewal,
      attributes: { 'oidc.client.name': client, 'oidc.token.renewal': renewal },
    });
    return new TokenAcquireSpan(span);
  }

  /** Runs `acquire` with this span active, so that the HTTP calls it makes are its children. */
  run<T>(acquire: () => Promise<T>): Promise<T> {
    return context.with(trace.setSpan(context.active(), this.span), acquire);
  }

  /** One more request to the token endpoint (a function of its own, to pass as a callback). */
  readonly attempted = (): void => {
    this.attempts += 1;
  };

  /** Ends the span: the token came from `source`. */
  succeeded(source: Exclude<TokenSource, 'cache'>): void {
    this.end({ 'oidc.token.source': source, 'oidc.outcome': 'success' });
  }

  /** Ends the span as failed with the error's stable `code`. */
  failed(code: string): void {
    this.span.setStatus({ code: SpanStatusCode.ERROR, message: code });
    this.end({ 'oidc.outcome': 'failure', 'error.type': code });
  }

  private end(attributes: Attributes): void {
    this.span.setAttributes({ ...attributes, 'oidc.token.attempts': this.attempts });
    this.span.end();
  }
}

/**
 * Runs one verification in an `oidc.token.verify` span, a child of the active span, when tracing is
 * on; else just runs it. `verify` gets a function to call when the token is actually checked (not
 * answered by a cache): the span's `oidc.verification.cache_hit` is `false` then. Attributes: the
 * strategy (its class name), the cache hit, and the outcome with the error's stable code. Never the
 * token, the client id or another claim.
 */
export function traceVerification<T>(
  strategy: string,
  verify: (checked: () => void) => Promise<T>,
): Promise<T> {
  if (!tracingEnabled()) return verify(noop);
  const span = tracer().startSpan(SPAN_NAMES.tokenVerify, {
    attributes: { 'oidc.verification.strategy': strategy },
  });
  let cacheHit = true;
  const checked = () => {
    cacheHit = false;
  };
  let pending: Promise<T>;
  try {
    pending = context.with(trace.setSpan(context.active(), span), () => verify(checked));
  } catch (error) {
    pending = Promise.reject(error);
  }
  return pending.then(
    (result) => {
      span.setAttributes({ 'oidc.verification.cache_hit': cacheHit, 'oidc.outcome': 'success' });
      span.end();
      return result;
    },
    (error: unknown) => {
      const code = errorCode(error) ?? 'UNEXPECTED_ERROR';
      span.setStatus({ code: SpanStatusCode.ERROR, message: code });
      span.setAttributes({
        'oidc.verification.cache_hit': cacheHit,
        'oidc.outcome': 'failure',
        'error.type': code,
      });
      span.end();
      throw error;
    },
  );
}

function noop(): void {}
