import { jest } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import diagnosticsChannel from 'node:diagnostics_channel';
import { Controller, Get, UseGuards, type INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { context, trace, SpanStatusCode, type Span } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';
import {
  ClientId,
  ClientTokenGuard,
  JwtVerificationStrategy,
  OidcClientCredentialsEvents,
  OidcClientCredentialsModule,
  TokenProvider,
  TokenProviderRegistry,
} from 'nest-oidc-client-credentials';
import { FakeIdService, PATHS, createTestingOptions } from 'nest-oidc-client-credentials/testing';
import { fakeDateOnly } from '../utils/fake-date.js';
import { SHARED_REDIS_URL, uniquePrefix, RedisInspector } from '../utils/redis.js';
import { rawRequest, startHttpApp, type RunningApp } from '../utils/nest-http-app.js';
import { CacheInstances, testCacheOptions } from '../utils/shared-cache-instances.js';

const ORDERS_SECRET = 'orders-secret-0123456789';
const REPORTS_SECRET = 'reports-secret-9876543210';
const CACHE_KEY = randomBytes(32).toString('base64');
/** A claim value that must never reach a span. */
const TENANT = 'tenant-acme-7f3a';

@Controller('orders')
@UseGuards(ClientTokenGuard)
class OrdersController {
  @Get()
  list(@ClientId() clientId: string) {
    return { clientId };
  }
}

/**
 * OpenTelemetry spans through @opentelemetry/api, recorded by an SDK registered for these tests:
 * their names, attributes and parents, and that no token, secret or claim value is in any of them.
 */
describe('OpenTelemetry traces (e2e)', () => {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const contextManager = new AsyncLocalStorageContextManager();
  const testTracer = () => trace.getTracer('tracing.e2e-spec');
  /** Every token and secret the tests used: none may appear in a span. */
  const secrets = new Set<string>([ORDERS_SECRET, REPORTS_SECRET, CACHE_KEY, TENANT]);
  let idp: FakeIdService;

  beforeAll(async () => {
    context.setGlobalContextManager(contextManager.enable());
    trace.setGlobalTracerProvider(provider);
    idp = await FakeIdService.start({
      clients: {
        orders: { secret: ORDERS_SECRET },
        reports: { secret: REPORTS_SECRET },
        'orders-api': { secret: 'orders-api-secret' },
      },
    });
  });

  afterAll(async () => {
    const everything = JSON.stringify(
      exporter.getFinishedSpans().map((s) => [s.name, s.attributes, s.status, s.events]),
    );
    for (const secret of secrets) expect(everything).not.toContain(secret);
    await idp?.close();
    trace.disable();
    context.disable();
    await provider.shutdown();
  });

  beforeEach(() => {
    exporter.reset();
    idp.reset();
  });

  /** The library's spans, oldest first. */
  const oidcSpans = (): ReadableSpan[] =>
    exporter.getFinishedSpans().filter((s) => s.name.startsWith('oidc.'));

  const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;

  /** Runs `fn` inside a span of the test's own, as an HTTP instrumentation would around a request. */
  async function inParent<T>(fn: () => Promise<T>): Promise<{ result: T; parent: Span }> {
    return testTracer().startActiveSpan('test.request', async (parent) => {
      try {
        return { result: await fn(), parent };
      } finally {
        parent.end();
      }
    });
  }

  describe('oidc.token.acquire', () => {
    let app: INestApplicationContext;

    beforeAll(async () => {
      app = await NestFactory.createApplicationContext(
        OidcClientCredentialsModule.forRoot({
          issuer: idp.issuer,
          clientId: 'orders',
          clientSecret: ORDERS_SECRET,
          retry: { initialDelayMs: 1, maxDelayMs: 1 },
          clients: { reports: { clientId: 'reports', clientSecret: REPORTS_SECRET } },
        }),
        { logger: false },
      );
    });
    afterAll(() => app?.close());

    it('a fetch then a cache hit: two spans under the caller, source network then cache', async () => {
      const tokens = app.get(TokenProvider);
      const { result, parent } = await inParent(async () => [
        await tokens.getToken({ forceRefresh: true }),
        await tokens.getToken(),
      ]);
      secrets.add(result[0]);
      const spans = oidcSpans();
      expect(spans.map((s) => [s.name, s.attributes])).toEqual([
        [
          'oidc.token.acquire',
          {
            'oidc.client.name': 'default',
            'oidc.token.renewal': false,
            'oidc.token.source': 'network',
            'oidc.token.attempts': 1,
            'oidc.outcome': 'success',
          },
        ],
        [
          'oidc.token.acquire',
          {
            'oidc.client.name': 'default',
            'oidc.token.source': 'cache',
            'oidc.token.attempts': 0,
            'oidc.outcome': 'success',
          },
        ],
      ]);
      for (const span of spans) {
        expect(parentOf(span)).toBe(parent.spanContext().spanId);
        expect(span.spanContext().traceId).toBe(parent.spanContext().traceId);
        expect(span.instrumentationScope.name).toBe('nest-oidc-client-credentials');
        expect(span.status.code).toBe(SpanStatusCode.UNSET);
      }
    });

    it("the token request's HTTP calls run inside the acquisition's span", async () => {
      const tokens = app.get(TokenProviderRegistry).get('reports');
      // What an HTTP client instrumentation (OpenTelemetry's undici instrumentation listens on this
      // channel) would see as its parent: the span active when the request is created.
      const parents: (string | undefined)[] = [];
      const onRequest = () => parents.push(trace.getActiveSpan()?.spanContext().spanId);
      diagnosticsChannel.subscribe('undici:request:create', onRequest);
      try {
        secrets.add(await tokens.getToken({ forceRefresh: true }));
      } finally {
        diagnosticsChannel.unsubscribe('undici:request:create', onRequest);
      }
      const [span] = oidcSpans();
      expect(span.attributes['oidc.client.name']).toBe('reports');
      expect(parents.length).toBeGreaterThan(0);
      expect(new Set(parents)).toEqual(new Set([span.spanContext().spanId]));
      // Called outside any span: the acquisition is a root span.
      expect(parentOf(span)).toBeUndefined();
    });

    it("a background renewal is a root span of its own; the cache hit that starts it is the caller's", async () => {
      const renewing = await NestFactory.createApplicationContext(
        OidcClientCredentialsModule.forRoot({
          issuer: idp.issuer,
          clientId: 'orders',
          clientSecret: ORDERS_SECRET,
          tokenRenewal: { proactive: false },
        }),
        { logger: false },
      );
      try {
        const tokens = renewing.get(TokenProvider);
        secrets.add(await tokens.getToken());
        exporter.reset();
        // Past the renewal point (80 % of the hour), before expiry.
        fakeDateOnly(new Date(Date.now() + 50 * 60_000));
        const renewed = new Promise((resolve) =>
          renewing.get(OidcClientCredentialsEvents).on('token.renewed', resolve),
        );
        const { parent } = await inParent(() => tokens.getToken());
        await renewed;
        const [hit, renewal] = [...oidcSpans()].sort((a, b) =>
          String(a.attributes['oidc.token.source']).localeCompare(
            String(b.attributes['oidc.token.source']),
          ),
        );
        expect(hit.attributes['oidc.token.source']).toBe('cache');
        expect(parentOf(hit)).toBe(parent.spanContext().spanId);
        expect(renewal.attributes).toMatchObject({
          'oidc.token.renewal': true,
          'oidc.token.source': 'network',
          'oidc.outcome': 'success',
        });
        expect(parentOf(renewal)).toBeUndefined();
        expect(renewal.spanContext().traceId).not.toBe(parent.spanContext().traceId);
        secrets.add(await tokens.getToken());
      } finally {
        jest.useRealTimers();
        await renewing.close();
      }
    });

    it('transient failures retried: the attempts sent, one span', async () => {
      let calls = 0;
      idp.on(PATHS.token, () => {
        calls += 1;
        return calls === 1
          ? { status: 503, body: { error: 'temporarily_unavailable' } }
          : undefined;
      });
      const { result } = await inParent(() =>
        app.get(TokenProvider).getToken({ forceRefresh: true }),
      );
      secrets.add(result);
      expect(oidcSpans().map((s) => s.attributes)).toEqual([
        expect.objectContaining({ 'oidc.token.attempts': 2, 'oidc.outcome': 'success' }),
      ]);
    });

    it('a refusal: outcome failure, the error code, status ERROR, nothing of the answer', async () => {
      idp.on(PATHS.token, () => ({
        status: 401,
        body: { error: 'invalid_client', error_description: `bad secret ${REPORTS_SECRET}` },
      }));
      const tokens = app.get(TokenProviderRegistry).get('reports');
      await inParent(() =>
        tokens.getToken({ forceRefresh: true }).catch((error: unknown) => error),
      );
      const [span] = oidcSpans();
      expect(span.attributes).toEqual({
        'oidc.client.name': 'reports',
        'oidc.token.renewal': false,
        'oidc.token.attempts': 1,
        'oidc.outcome': 'failure',
        'error.type': 'OIDC_CC_TOKEN_REQUEST_FAILED',
      });
      expect(span.status).toEqual({
        code: SpanStatusCode.ERROR,
        message: 'OIDC_CC_TOKEN_REQUEST_FAILED',
      });
      expect(span.events).toEqual([]);
    });
  });

  describe('oidc.token.acquire from the shared cache', () => {
    const instances = new CacheInstances();
    let inspector: RedisInspector;
    let prefix: string;

    beforeAll(async () => {
      inspector = await RedisInspector.connect();
      prefix = uniquePrefix();
    });
    afterAll(async () => {
      await instances.close();
      await inspector?.clear(prefix);
      await inspector?.close();
    });

    const replica = async () =>
      instances.add(
        await NestFactory.createApplicationContext(
          OidcClientCredentialsModule.forRoot({
            issuer: idp.issuer,
            clientId: 'orders',
            clientSecret: ORDERS_SECRET,
            cache: testCacheOptions({
              stores: [instances.redisStore(SHARED_REDIS_URL)],
              keyPrefix: prefix,
              encryptionKey: CACHE_KEY,
            }),
          }),
          { logger: false },
        ),
      );

    it('source shared: a token another instance fetched, no request sent', async () => {
      const first = await replica();
      secrets.add(await first.get(TokenProvider).getToken());
      const second = await replica();
      exporter.reset();
      await inParent(() => second.get(TokenProvider).getToken());
      expect(oidcSpans().map((s) => s.attributes)).toEqual([
        {
          'oidc.client.name': 'default',
          'oidc.token.renewal': false,
          'oidc.token.source': 'shared',
          'oidc.token.attempts': 0,
          'oidc.outcome': 'success',
        },
      ]);
      expect(idp.requestCount(PATHS.token)).toBe(1);
    });
  });

  describe('oidc.token.verify', () => {
    let running: RunningApp;

    beforeAll(async () => {
      running = await startHttpApp('express', {
        imports: [
          OidcClientCredentialsModule.forRoot(
            createTestingOptions(idp, {
              clientId: 'orders-api',
              verification: { strategy: 'jwt', audience: 'orders-api', cacheTtlSeconds: 60 },
            }),
          ),
        ],
        controllers: [OrdersController],
      });
    });
    afterAll(() => running?.close());

    const mint = async (claims: Record<string, unknown> = {}) => {
      const token = await idp.mintJwt({
        sub: 'billing',
        client_id: 'billing',
        aud: 'orders-api',
        tenant: TENANT,
        jti: randomBytes(8).toString('hex'),
        ...claims,
      });
      secrets.add(token);
      return token;
    };

    it('checked, then answered from the cache: two spans under the caller', async () => {
      const strategy = running.app.get(JwtVerificationStrategy);
      const token = await mint();
      const { parent } = await inParent(async () => {
        await strategy.verify(token);
        await strategy.verify(token);
      });
      const spans = oidcSpans();
      expect(spans.map((s) => [s.name, s.attributes])).toEqual([
        [
          'oidc.token.verify',
          {
            'oidc.verification.strategy': 'JwtVerificationStrategy',
            'oidc.verification.cache_hit': false,
            'oidc.outcome': 'success',
          },
        ],
        [
          'oidc.token.verify',
          {
            'oidc.verification.strategy': 'JwtVerificationStrategy',
            'oidc.verification.cache_hit': true,
            'oidc.outcome': 'success',
          },
        ],
      ]);
      for (const span of spans) expect(parentOf(span)).toBe(parent.spanContext().spanId);
    });

    it('a refused token: outcome failure with the error code, no claim, no client id', async () => {
      const token = await mint({ exp: Math.floor(Date.now() / 1000) - 3600 });
      const response = await rawRequest(running.url, {
        path: '/orders',
        headers: [['Authorization', `Bearer ${token}`]],
      });
      expect(response.status).toBe(401);
      const [span] = oidcSpans();
      expect(span.name).toBe('oidc.token.verify');
      expect(span.attributes).toEqual({
        'oidc.verification.strategy': 'JwtVerificationStrategy',
        'oidc.verification.cache_hit': false,
        'oidc.outcome': 'failure',
        'error.type': 'OIDC_CC_TOKEN_EXPIRED',
      });
      expect(span.status).toEqual({ code: SpanStatusCode.ERROR, message: 'OIDC_CC_TOKEN_EXPIRED' });
      expect(JSON.stringify(span.attributes)).not.toContain('billing');
    });

    it('through the guard on every request, cache hits included', async () => {
      const token = await mint();
      for (let i = 0; i < 3; i += 1) {
        const response = await rawRequest(running.url, {
          path: '/orders',
          headers: [['Authorization', `Bearer ${token}`]],
        });
        expect(response.status).toBe(200);
      }
      expect(oidcSpans().map((s) => s.attributes['oidc.verification.cache_hit'])).toEqual([
        false,
        true,
        true,
      ]);
    });
  });
});
