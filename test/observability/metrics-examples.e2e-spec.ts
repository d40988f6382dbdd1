import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { jest } from '@jest/globals';
import type { Type } from '@nestjs/common';
import { metrics } from '@opentelemetry/api';
import {
  DataPointType,
  MeterProvider,
  MetricReader,
  type CollectionResult,
} from '@opentelemetry/sdk-metrics';
import { register } from 'prom-client';
import { TokenProviderRegistry } from 'nest-oidc-client-credentials';
import { FakeIdService, PATHS } from 'nest-oidc-client-credentials/testing';
import { OidcOpenTelemetryMetrics } from '../../docs/examples/opentelemetry-metrics.js';
import { OidcPrometheusMetrics } from '../../docs/examples/prometheus-metrics.js';
import { fakeDateOnly } from '../utils/fake-date.js';
import { startHttpApp, type RunningApp } from '../utils/nest-http-app.js';
import { observedApp } from './app.module.js';

// The metrics examples of docs/observability.md are the files under docs/examples: the page shows them
// as they are, and each one, wired into an app as the page says, counts what the app did.

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const read = (path: string) => readFileSync(`${ROOT}/${path}`, 'utf8');

describe('docs/observability.md shows the example files as they are', () => {
  /** The ```ts blocks of the `## heading` section, up to the next `## ` heading. */
  function tsBlocks(markdown: string, heading: string): string[] {
    const start = markdown.split('\n').indexOf(heading);
    expect(start).toBeGreaterThan(-1);
    const lines = markdown.split('\n').slice(start + 1);
    const end = lines.findIndex((line) => line.startsWith('## '));
    const section = (end === -1 ? lines : lines.slice(0, end)).join('\n');
    return [...section.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1]);
  }
  const withoutTrailingNewlines = (text: string) => text.replace(/\n+$/, '');

  it.each([
    ['## Prometheus (prom-client)', 'docs/examples/prometheus-metrics.ts'],
    ['## OpenTelemetry', 'docs/examples/opentelemetry-metrics.ts'],
  ])('the "%s" section shows %s', (heading, file) => {
    const blocks = tsBlocks(read('docs/observability.md'), heading);
    expect(blocks).toHaveLength(1);
    expect(withoutTrailingNewlines(blocks[0])).toBe(withoutTrailingNewlines(read(file)));
  });
});

interface Context {
  running: RunningApp;
  idp: FakeIdService;
  get(path: string, token?: string): Promise<number>;
  mint(claims?: Record<string, unknown>): Promise<string>;
  advance(ms: number): void;
}
type Scenario = (ctx: Context) => Promise<void>;

/** Root client twice (a fetch, then a cache hit), the `billing` client once. */
const tokensPerClient: Scenario = async ({ running }) => {
  const registry = running.app.get(TokenProviderRegistry);
  await registry.get().getToken();
  await registry.get().getToken();
  await registry.get('billing').getToken();
};

/** Two 503s open the circuit (threshold 2), the third call is refused by it; after the cooldown a token again. */
const failuresAndCircuit: Scenario = async ({ running, idp, advance }) => {
  const billing = running.app.get(TokenProviderRegistry).get('billing');
  idp.on(PATHS.token, () => ({ status: 503, body: { error: 'temporarily_unavailable' } }));
  for (let i = 0; i < 3; i += 1) {
    await expect(billing.getToken()).rejects.toThrow();
  }
  idp.on(PATHS.token, () => undefined);
  advance(30_000);
  await billing.getToken();
};

/** Accepted twice (the second from the cache), refused without a token, when expired (twice) and for a scope. */
const acceptedAndRefused: Scenario = async ({ get, mint }) => {
  const good = await mint({ scope: 'orders:read' });
  const expired = await mint({ exp: Math.floor(Date.now() / 1000) - 3600 });
  expect(await get('/orders', good)).toBe(200);
  expect(await get('/orders', good)).toBe(200);
  expect(await get('/orders')).toBe(401);
  expect(await get('/orders', expired)).toBe(401);
  expect(await get('/orders', expired)).toBe(401);
  expect(await get('/orders/admin', good)).toBe(403);
};

/** The JWKS expires and its endpoint fails: the next token is verified with the last known keys. */
const staleKeys: Scenario = async ({ idp, get, mint, advance }) => {
  expect(await get('/orders', await mint())).toBe(200);
  idp.on(PATHS.jwks, () => ({ status: 500, body: 'down' }));
  advance(600_000);
  expect(await get('/orders', await mint({ jti: 'after-expiry' }))).toBe(200);
};

/** Starts the observed app with `metricsProvider` among its providers, runs `scenario` against it. */
function withObservedApp(metricsProvider: Type) {
  let idp: FakeIdService;
  let running: RunningApp;

  beforeAll(async () => {
    idp = await FakeIdService.start({
      clients: {
        orders: { secret: 'orders-secret-0123456789' },
        billing: { secret: 'billing-secret-9876543210' },
        caller: { secret: 'caller-secret' },
      },
    });
  });
  afterAll(() => idp.close());

  beforeEach(async () => {
    // The clock moves only when a scenario says so.
    fakeDateOnly();
    const app = observedApp({
      issuer: idp.issuer,
      clientId: 'orders',
      clientSecret: 'orders-secret-0123456789',
      scope: 'orders:read',
      retry: { maxAttempts: 1 },
      circuitBreaker: { failureThreshold: 2, cooldownMs: 30_000 },
      clients: { billing: { clientId: 'billing', clientSecret: 'billing-secret-9876543210' } },
      verification: { strategy: 'jwt', jwksStaleWindowSeconds: 3600 },
    });
    running = await startHttpApp('express', { ...app, providers: [metricsProvider] });
  });
  afterEach(async () => {
    await running.close();
    jest.useRealTimers();
    idp.reset();
  });

  return (scenario: Scenario) =>
    scenario({
      running,
      idp,
      get: async (path, token) =>
        (
          await fetch(`${running.url}${path}`, {
            headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
          })
        ).status,
      mint: (claims = {}) => idp.mintJwt({ sub: 'caller', ...claims }),
      advance: (ms) => jest.setSystemTime(Date.now() + ms),
    });
}

describe('docs/examples/prometheus-metrics.ts (e2e)', () => {
  // The example's metrics live in prom-client's default registry, as in an app; each case starts from zero.
  beforeEach(() => register.resetMetrics());
  afterAll(() => register.resetMetrics());
  const run = withObservedApp(OidcPrometheusMetrics);

  /** The samples of the exposition text, without buckets and sums (durations vary), sorted. */
  async function samples(): Promise<string[]> {
    return (await register.metrics())
      .split('\n')
      .filter((line) => line.startsWith('oidc_cc_'))
      .filter((line) => !/^\w+_(bucket|sum)[{ ]/.test(line))
      .sort();
  }

  it.each<[string, Scenario, string[]]>([
    [
      'tokens fetched per client, in-process cache hits and misses',
      tokensPerClient,
      [
        'oidc_cc_token_acquisitions_total{client="default",outcome="fetched",code=""} 1',
        'oidc_cc_token_acquisitions_total{client="billing",outcome="fetched",code=""} 1',
        'oidc_cc_token_acquisition_seconds_count{client="default"} 1',
        'oidc_cc_token_acquisition_seconds_count{client="billing"} 1',
        'oidc_cc_token_cache_total{client="default",result="miss"} 1',
        'oidc_cc_token_cache_total{client="default",result="hit"} 1',
        'oidc_cc_token_cache_total{client="billing",result="miss"} 1',
        'oidc_cc_jwks_stale_key_uses_total 0',
      ],
    ],
    [
      'token failures by code and the circuit opening',
      failuresAndCircuit,
      [
        'oidc_cc_token_acquisitions_total{client="billing",outcome="failed",code="OIDC_CC_TOKEN_ENDPOINT_UNAVAILABLE"} 2',
        'oidc_cc_token_acquisitions_total{client="billing",outcome="failed",code="OIDC_CC_TOKEN_ENDPOINT_CIRCUIT_OPEN"} 1',
        'oidc_cc_token_acquisitions_total{client="billing",outcome="fetched",code=""} 1',
        'oidc_cc_token_acquisition_seconds_count{client="billing"} 4',
        'oidc_cc_token_cache_total{client="billing",result="miss"} 4',
        'oidc_cc_token_circuit_opened_total{client="billing"} 1',
        'oidc_cc_jwks_stale_key_uses_total 0',
      ],
    ],
    [
      'requests accepted and refused by code and status, the verification cache and the JWKS fetch',
      acceptedAndRefused,
      [
        'oidc_cc_verifications_total{outcome="accepted",code="",status="200"} 2',
        'oidc_cc_verifications_total{outcome="refused",code="OIDC_CC_TOKEN_MISSING",status="401"} 1',
        'oidc_cc_verifications_total{outcome="refused",code="OIDC_CC_TOKEN_EXPIRED",status="401"} 2',
        'oidc_cc_verifications_total{outcome="refused",code="OIDC_CC_INSUFFICIENT_SCOPE",status="403"} 1',
        'oidc_cc_verification_cache_total{result="miss"} 2',
        'oidc_cc_verification_cache_total{result="positive"} 2',
        'oidc_cc_verification_cache_total{result="negative"} 1',
        'oidc_cc_jwks_fetches_total{reason="initial",outcome="ok"} 1',
        'oidc_cc_jwks_stale_key_uses_total 0',
      ],
    ],
    [
      'a failed JWKS refetch and a token verified with the stale keys',
      staleKeys,
      [
        'oidc_cc_verifications_total{outcome="accepted",code="",status="200"} 2',
        'oidc_cc_verification_cache_total{result="miss"} 2',
        'oidc_cc_jwks_fetches_total{reason="initial",outcome="ok"} 1',
        'oidc_cc_jwks_fetches_total{reason="expired",outcome="failed"} 1',
        'oidc_cc_jwks_stale_key_uses_total 1',
      ],
    ],
  ])('counts %s', async (_case, scenario, expected) => {
    await run(scenario);
    expect(await samples()).toEqual([...expected].sort());
  });
});

/** A reader the test collects from on demand. */
class CollectingReader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

describe('docs/examples/opentelemetry-metrics.ts (e2e)', () => {
  let reader: CollectingReader;
  let provider: MeterProvider;

  // The example takes its meter from the global meter provider, as in an app; each case has a new one.
  beforeEach(() => {
    reader = new CollectingReader();
    provider = new MeterProvider({ readers: [reader] });
    expect(metrics.setGlobalMeterProvider(provider)).toBe(true);
  });
  afterEach(async () => {
    metrics.disable();
    await provider.shutdown();
  });
  const run = withObservedApp(OidcOpenTelemetryMetrics);

  /** Every data point as `name{attributes} value` (a histogram's value is its count), sorted. */
  async function points(): Promise<string[]> {
    const { resourceMetrics, errors }: CollectionResult = await reader.collect();
    expect(errors).toEqual([]);
    const lines: string[] = [];
    for (const scope of resourceMetrics.scopeMetrics) {
      expect(scope.scope.name).toBe('nest-oidc-client-credentials');
      for (const metric of scope.metrics) {
        for (const point of metric.dataPoints) {
          const attributes = Object.entries(point.attributes)
            .sort(([a], [b]) => a.localeCompare(b))
            .map(([key, value]) => `${key}=${String(value)}`)
            .join(',');
          const value =
            metric.dataPointType === DataPointType.HISTOGRAM
              ? `count=${(point.value as { count: number }).count}`
              : String(point.value);
          lines.push(`${metric.descriptor.name}{${attributes}} ${value}`);
        }
      }
    }
    return lines.sort();
  }

  it.each<[string, Scenario, string[]]>([
    [
      'tokens fetched per client, in-process cache hits and misses',
      tokensPerClient,
      [
        'oidc_cc.token.acquisitions{client=default,outcome=fetched,source=token-endpoint} 1',
        'oidc_cc.token.acquisitions{client=billing,outcome=fetched,source=token-endpoint} 1',
        'oidc_cc.token.acquisition.duration{client=default} count=1',
        'oidc_cc.token.acquisition.duration{client=billing} count=1',
        'oidc_cc.token.cache{client=default,result=miss} 1',
        'oidc_cc.token.cache{client=default,result=hit} 1',
        'oidc_cc.token.cache{client=billing,result=miss} 1',
      ],
    ],
    [
      'token failures by code, the circuit opening and closing',
      failuresAndCircuit,
      [
        'oidc_cc.token.acquisitions{client=billing,code=OIDC_CC_TOKEN_ENDPOINT_UNAVAILABLE,outcome=failed,renewal=false} 2',
        'oidc_cc.token.acquisitions{client=billing,code=OIDC_CC_TOKEN_ENDPOINT_CIRCUIT_OPEN,outcome=failed,renewal=false} 1',
        'oidc_cc.token.acquisitions{client=billing,outcome=fetched,source=token-endpoint} 1',
        'oidc_cc.token.acquisition.duration{client=billing} count=4',
        'oidc_cc.token.cache{client=billing,result=miss} 4',
        'oidc_cc.token.circuit.transitions{client=billing,state=open} 1',
        'oidc_cc.token.circuit.transitions{client=billing,state=closed} 1',
      ],
    ],
    [
      'requests accepted and refused by code and status, the verification cache and the JWKS fetch',
      acceptedAndRefused,
      [
        'oidc_cc.verifications{outcome=accepted} 2',
        'oidc_cc.verifications{code=OIDC_CC_TOKEN_MISSING,outcome=refused,status=401} 1',
        'oidc_cc.verifications{code=OIDC_CC_TOKEN_EXPIRED,outcome=refused,status=401} 2',
        'oidc_cc.verifications{code=OIDC_CC_INSUFFICIENT_SCOPE,outcome=refused,status=403} 1',
        'oidc_cc.verification.cache{result=miss} 2',
        'oidc_cc.verification.cache{result=positive} 2',
        'oidc_cc.verification.cache{result=negative} 1',
        'oidc_cc.jwks.fetches{outcome=ok,reason=initial} 1',
      ],
    ],
    [
      'a failed JWKS refetch and a token verified with the stale keys',
      staleKeys,
      [
        'oidc_cc.verifications{outcome=accepted} 2',
        'oidc_cc.verification.cache{result=miss} 2',
        'oidc_cc.jwks.fetches{outcome=ok,reason=initial} 1',
        'oidc_cc.jwks.fetches{code=OIDC_CC_JWKS_UNAVAILABLE,outcome=failed,reason=expired} 1',
        'oidc_cc.jwks.stale_key_uses{} 1',
      ],
    ],
  ])('counts %s', async (_case, scenario, expected) => {
    await run(scenario);
    expect(await points()).toEqual([...expected].sort());
  });
});
