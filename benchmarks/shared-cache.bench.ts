// ID-service calls per 10,000 requests spread over 3 instances, with in-process caches only and with
// the shared cache (Redis), side by side, for both directions: token requests (outbound getToken())
// and introspections (inbound verification). Not a test: it prints, and exits 0.
//
//   npm run bench:shared-cache        (needs Redis on 127.0.0.1:6379, or REDIS_URL)
//
// "1 h" scenarios move the clock the library reads (Date.now) forward by 360 ms per request, so
// tokens and cache entries expire as in an hour of traffic. Each batch of concurrent requests runs
// at one instant, then real time passes briefly so work started in the background (renewals, Redis
// writes) completes, as it would long before the next request 360 ms later. Redis TTLs run on real
// time, but every entry is checked against the moved clock when read.
import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import type { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { Keyv } from 'keyv';
import {
  OidcClientCredentialsModule,
  TokenProvider,
  TokenVerificationStrategy,
  type OidcClientCredentialsModuleOptions,
} from 'nest-oidc-client-credentials';
import { FakeIdService, PATHS } from 'nest-oidc-client-credentials/testing';
import {
  closeStores,
  RedisInspector,
  redisStore,
  SHARED_REDIS_URL,
  uniquePrefix,
} from '../test/utils/redis.js';

const REQUESTS = 10_000;
const INSTANCES = 3;
const CONCURRENCY = 20;
const HOUR_MS = 3_600_000;

const realNow = Date.now.bind(Date);
let clockOffset = 0;
Date.now = () => realNow() + clockOffset;

interface Scenario {
  name: string;
  path: string;
  /** Options of each instance (the shared store is added for the shared run). */
  options: Partial<OidcClientCredentialsModuleOptions>;
  /** Request `i` against `app`; `false` when its answer was wrong (e.g. an expired token). */
  request(app: INestApplicationContext, i: number): Promise<boolean>;
  /** Simulated time span of the 10,000 requests. */
  spanMs: number;
}

/** ID-service calls of one run, and requests that failed or got an expired token (should be 0). */
async function run(
  idp: FakeIdService,
  scenario: Scenario,
  shared: boolean,
): Promise<{ calls: number; failures: number }> {
  const prefix = uniquePrefix();
  // One key per fleet: every instance must open the others' entries.
  const encryptionKey = randomBytes(32);
  const stores: Keyv[] = [];
  const apps: INestApplicationContext[] = [];
  clockOffset = 0;
  try {
    for (let i = 0; i < INSTANCES; i += 1) {
      const store = shared ? redisStore(SHARED_REDIS_URL) : undefined;
      if (store) stores.push(store);
      apps.push(
        await NestFactory.createApplicationContext(
          OidcClientCredentialsModule.forRoot({
            issuer: idp.issuer,
            ...scenario.options,
            ...(store ? { cache: { stores: [store], keyPrefix: prefix, encryptionKey } } : {}),
          }),
          { logger: false },
        ),
      );
    }
    idp.reset();
    const step = scenario.spanMs / REQUESTS;
    let failures = 0;
    for (let i = 0; i < REQUESTS; i += CONCURRENCY) {
      clockOffset = Math.floor(i * step);
      await Promise.all(
        Array.from({ length: CONCURRENCY }, (_, j) =>
          scenario.request(apps[(i + j) % INSTANCES], i + j).then(
            (ok) => {
              if (ok === false) failures += 1;
            },
            () => {
              failures += 1;
            },
          ),
        ),
      );
      if (step > 0) await new Promise((resolve) => setTimeout(resolve, 2));
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
    return { calls: idp.requestsTo(scenario.path).length, failures };
  } finally {
    clockOffset = 0;
    await Promise.all(apps.map((app) => app.close()));
    await closeStores(stores);
    const inspector = await RedisInspector.connect(SHARED_REDIS_URL);
    await inspector.clear(prefix);
    await inspector.close();
  }
}

async function main(): Promise<void> {
  const idp = await FakeIdService.start({
    clients: {
      billing: { secret: 'billing-secret' },
      'orders-api': { secret: 'orders-api-secret' },
    },
    tokenFormat: 'opaque',
  });
  const callerTokens = (count: number, lifetimeSeconds: number) =>
    Array.from({ length: count }, () => idp.mintOpaque('billing', { lifetimeSeconds }));
  const outbound = (lifetimeSeconds: number) => {
    idp.clients.billing.lifetimeSeconds = lifetimeSeconds;
    return { clientId: 'billing', clientSecret: 'billing-secret' };
  };
  const inbound = { clientId: 'orders-api', clientSecret: 'orders-api-secret' };
  const verify = (tokens: () => string[]) => {
    let list: string[] = [];
    return async (app: INestApplicationContext, i: number) => {
      if (i === 0 || list.length === 0) list = tokens();
      await app.get(TokenVerificationStrategy).verify(list[i % list.length]);
      return true;
    };
  };
  /** A token that is still valid at the (moved) clock. */
  const getToken = async (app: INestApplicationContext) =>
    (await app.get(TokenProvider).getTokenResponse()).expiresAt > Date.now();

  const scenarios: (() => Scenario)[] = [
    () => ({
      name: 'outbound getToken(), burst',
      path: PATHS.token,
      options: outbound(3600),
      spanMs: 0,
      request: getToken,
    }),
    () => ({
      name: 'outbound getToken(), 1 h, 300 s tokens',
      path: PATHS.token,
      options: outbound(300),
      spanMs: HOUR_MS,
      request: getToken,
    }),
    () => ({
      name: 'inbound introspection, 50 callers, burst',
      path: PATHS.introspection,
      options: { ...inbound, verification: { strategy: 'introspection' } },
      spanMs: 0,
      request: verify(() => callerTokens(50, 3600)),
    }),
    () => ({
      name: 'inbound introspection, 50 callers, 1 h, TTL 300 s',
      path: PATHS.introspection,
      options: {
        ...inbound,
        verification: { strategy: 'introspection', cacheTtlSeconds: 300 },
      },
      spanMs: HOUR_MS,
      request: verify(() => callerTokens(50, 7200)),
    }),
  ];

  const rows: [string, number, number][] = [];
  let failures = 0;
  for (const make of scenarios) {
    const local = await run(idp, make(), false);
    const shared = await run(idp, make(), true);
    failures += local.failures + shared.failures;
    rows.push([make().name, local.calls, shared.calls]);
  }
  await idp.close();

  const width = Math.max(...rows.map(([name]) => name.length));
  console.log(
    `ID-service calls per ${REQUESTS.toLocaleString('en-US')} requests, ${INSTANCES} instances, ` +
      `${CONCURRENCY} concurrent (node ${process.version}, Redis ${SHARED_REDIS_URL})`,
  );
  console.log(`  ${'scenario'.padEnd(width)}  in-process only  shared (Redis)`);
  for (const [name, local, shared] of rows) {
    console.log(
      `  ${name.padEnd(width)}  ${String(local).padStart(15)}  ${String(shared).padStart(14)}`,
    );
  }
  console.log(`  failed requests or expired tokens served: ${failures}`);
}

await main();
