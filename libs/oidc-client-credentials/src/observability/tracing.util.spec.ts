import { jest } from '@jest/globals';
import { trace } from '@opentelemetry/api';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import {
  CACHE_HIT_RECHECK_MS,
  TokenAcquireSpan,
  traceTokenCacheHit,
  traceVerification,
  tracingEnabled,
} from './tracing.util.js';

describe('tracing without an OpenTelemetry SDK', () => {
  afterEach(() => jest.restoreAllMocks());

  it('is off, and creates no span nor tracer', async () => {
    const getTracer = jest.spyOn(trace, 'getTracer');
    expect(tracingEnabled()).toBe(false);
    traceTokenCacheHit('default', 0);
    expect(TokenAcquireSpan.start('default', false)).toBeUndefined();
    let checked = false;
    await expect(
      traceVerification('JwtVerificationStrategy', (check) => {
        check();
        checked = true;
        return Promise.resolve('verified');
      }),
    ).resolves.toBe('verified');
    expect(checked).toBe(true);
    expect(getTracer).not.toHaveBeenCalled();
  });
});

describe('tracing with an OpenTelemetry SDK', () => {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });

  beforeAll(() => trace.setGlobalTracerProvider(provider));
  afterAll(async () => {
    trace.disable();
    await provider.shutdown();
  });
  beforeEach(() => exporter.reset());

  it('is on while a provider is registered, off again once it is removed', () => {
    expect(tracingEnabled()).toBe(true);
    trace.disable();
    expect(tracingEnabled()).toBe(false);
    trace.setGlobalTracerProvider(provider);
    expect(tracingEnabled()).toBe(true);
  });

  it('cache-hit-recheck: a cache hit sees a provider registered since its last look within a second', () => {
    // The test above looked at 0, before the provider was registered.
    const hits = () => exporter.getFinishedSpans().length;
    traceTokenCacheHit('default', CACHE_HIT_RECHECK_MS - 1);
    expect(hits()).toBe(0);
    traceTokenCacheHit('default', CACHE_HIT_RECHECK_MS);
    expect(hits()).toBe(1);
    trace.disable();
    traceTokenCacheHit('default', CACHE_HIT_RECHECK_MS + 1);
    // A clock set back looks again at once.
    traceTokenCacheHit('default', CACHE_HIT_RECHECK_MS - 5);
    trace.setGlobalTracerProvider(provider);
    traceTokenCacheHit('default', CACHE_HIT_RECHECK_MS - 4);
    expect(hits()).toBe(1);
    traceTokenCacheHit('default', 2 * CACHE_HIT_RECHECK_MS);
    expect(hits()).toBe(2);
  });

  it.each<[string, () => Promise<unknown>, Record<string, unknown>]>([
    [
      'verify-success',
      () => traceVerification('S', (check) => (check(), Promise.resolve(1))),
      { 'oidc.verification.cache_hit': false, 'oidc.outcome': 'success' },
    ],
    [
      'verify-cache-hit',
      () => traceVerification('S', () => Promise.resolve(1)),
      { 'oidc.verification.cache_hit': true, 'oidc.outcome': 'success' },
    ],
    [
      'verify-unexpected-error: no code, a fixed type',
      () => traceVerification('S', () => Promise.reject(new Error('secret details'))),
      {
        'oidc.verification.cache_hit': true,
        'oidc.outcome': 'failure',
        'error.type': 'UNEXPECTED_ERROR',
      },
    ],
    [
      'verify-throws-synchronously: the span still ends',
      () =>
        traceVerification('S', () => {
          throw new TypeError('sync');
        }),
      {
        'oidc.verification.cache_hit': true,
        'oidc.outcome': 'failure',
        'error.type': 'UNEXPECTED_ERROR',
      },
    ],
  ])('%s', async (_case, run, attributes) => {
    await run().catch(() => undefined);
    const [span] = exporter.getFinishedSpans();
    expect(span.name).toBe('oidc.token.verify');
    expect(span.attributes).toEqual({ 'oidc.verification.strategy': 'S', ...attributes });
    expect(JSON.stringify([span.status, span.events])).not.toContain('secret details');
  });
});
