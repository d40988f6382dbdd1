// Soak: mixed valid, expired, forged and random bearer tokens against a guarded app (JWT and
// introspection routes) and the fake ID service, all on 127.0.0.1. Bounded in time and in requests;
// stops by itself. Reports status counts (no 5xx but the documented 503), heap before and after a
// forced GC with the app still running (caches bounded), and ID-service calls per 1,000 requests.
// Exits 1 on a violation: an undocumented 5xx, a transport error, a log line that may carry a
// token, or heap growth past SOAK_MAX_HEAP_GROWTH_MB.
//
//   npm run soak                         (3 minutes; node --expose-gc --import ./benchmarks/register-ts.mjs …)
//   SOAK_SECONDS=60 npm run soak         (a quicker run)
//   SOAK_CONCURRENCY=64 SOAK_MAX_REQUESTS=500000 npm run soak
import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { Agent, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Controller, Get, Module, UseGuards, type LoggerService } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import {
  ClientId,
  ClientTokenGuard,
  OidcClientCredentialsModule,
  VerificationCache,
  type VerificationStrategyName,
} from 'nest-oidc-client-credentials';
import { FakeIdService, PATHS } from 'nest-oidc-client-credentials/testing';

const SECONDS = Number(process.env.SOAK_SECONDS ?? 180);
/** Both verification caches full (2 × 10,000 positive + 10,000 negative entries) stay well below this. */
const MAX_HEAP_GROWTH_MB = Number(process.env.SOAK_MAX_HEAP_GROWTH_MB ?? 64);
const MAX_REQUESTS = Number(process.env.SOAK_MAX_REQUESTS ?? 2_000_000);
const CONCURRENCY = Number(process.env.SOAK_CONCURRENCY ?? 32);
const API = { id: 'soak-api', secret: 'soak-api-secret' };
/** The one 5xx the guard may answer: the ID service could not be asked (documented). */
const DOCUMENTED_5XX = 503;

/** Counts log lines per level and flags any that looks like it carries a token. */
class CountingLogger implements LoggerService {
  readonly levels = new Map<string, number>();
  readonly suspicious: string[] = [];
  constructor(private readonly secrets: () => readonly string[]) {}
  log(message: unknown) {
    this.count('log', message);
  }
  error(message: unknown) {
    this.count('error', message);
    // Rare and worth seeing; checked for tokens like every other line.
    if (this.levels.get('error')! <= 5) console.error(`error: ${String(message).slice(0, 200)}`);
  }
  warn(message: unknown) {
    this.count('warn', message);
  }
  debug(message: unknown) {
    this.count('debug', message);
  }
  verbose(message: unknown) {
    this.count('verbose', message);
  }
  fatal(message: unknown) {
    this.count('fatal', message);
  }
  private count(level: string, message: unknown) {
    this.levels.set(level, (this.levels.get(level) ?? 0) + 1);
    const text = String(message);
    // A JWT starts with eyJ; opaque tokens of the pools are checked on the rarer lines.
    const leaks =
      /eyJ[A-Za-z0-9_-]{10,}/.test(text) ||
      (level !== 'debug' && this.secrets().some((secret) => text.includes(secret)));
    if (leaks && this.suspicious.length < 5)
      this.suspicious.push(`${level}: ${text.slice(0, 120)}`);
  }
}

@Controller('jwt')
@UseGuards(ClientTokenGuard)
class JwtRoutes {
  @Get('whoami')
  whoami(@ClientId() clientId: string) {
    return { clientId };
  }
}

@Controller('introspection')
@UseGuards(ClientTokenGuard)
class IntrospectionRoutes {
  @Get('whoami')
  whoami(@ClientId() clientId: string) {
    return { clientId };
  }
}

@Module({})
class JwtRoutesModule {}
@Module({})
class IntrospectionRoutesModule {}

/** The guarded API: one route module per strategy, each with its own verifier and caches. */
function soakApp(issuer: string) {
  const verifiers = {
    jwt: verifier(issuer, 'jwt'),
    introspection: verifier(issuer, 'introspection'),
  };
  @Module({
    imports: [
      { module: JwtRoutesModule, imports: [verifiers.jwt], controllers: [JwtRoutes] },
      {
        module: IntrospectionRoutesModule,
        imports: [verifiers.introspection],
        controllers: [IntrospectionRoutes],
      },
    ],
  })
  class SoakAppModule {}
  return { module: SoakAppModule, verifiers };
}

function verifier(issuer: string, strategy: VerificationStrategyName) {
  return OidcClientCredentialsModule.forRoot({
    issuer,
    clientId: API.id,
    clientSecret: API.secret,
    verification: { strategy },
  });
}

type Kind = 'valid' | 'valid-opaque' | 'expired' | 'forged' | 'random';
type Route = 'jwt' | 'introspection';

const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)];
const randomB64 = (min: number, max: number) =>
  randomBytes(min + Math.floor(Math.random() * (max - min))).toString('base64url');

/** What one request sends: a route and a token of one kind. */
function nextRequest(pools: { valid: string[]; opaque: string[]; expired: string[] }): {
  route: Route;
  kind: Kind;
  token: string;
} {
  const roll = Math.random();
  const route: Route = Math.random() < 0.5 ? 'jwt' : 'introspection';
  if (roll < 0.3) return { route, kind: 'valid', token: pick(pools.valid) };
  if (roll < 0.45)
    return { route: 'introspection', kind: 'valid-opaque', token: pick(pools.opaque) };
  if (roll < 0.6) return { route, kind: 'expired', token: pick(pools.expired) };
  if (roll < 0.8) {
    // A valid header and payload with a fresh random signature: never in any cache.
    const [header, payload] = pick(pools.valid).split('.');
    return { route, kind: 'forged', token: `${header}.${payload}.${randomB64(256, 257)}` };
  }
  const token =
    Math.random() < 0.8
      ? randomB64(16, 64)
      : `${randomB64(8, 30)}.${randomB64(8, 60)}.${randomB64(8, 40)}`;
  return { route, kind: 'random', token };
}

function send(agent: Agent, port: number, path: string, token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path, agent, headers: { authorization: `Bearer ${token}` } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
const n = (value: number) => value.toLocaleString('en-US');

function heapAfterGc(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) {
    gc();
    gc();
  }
  return process.memoryUsage().heapUsed;
}

async function main(): Promise<void> {
  const idp = await FakeIdService.start({
    clients: { [API.id]: { secret: API.secret } },
    tokenFormat: 'opaque',
  });
  const now = Math.floor(Date.now() / 1000);
  const pools = {
    valid: await Promise.all(
      Array.from({ length: 200 }, (_, i) => idp.mintJwt({ sub: `client-${i}`, exp: now + 7200 })),
    ),
    opaque: Array.from({ length: 200 }, (_, i) =>
      idp.mintOpaque(`client-${i}`, { lifetimeSeconds: 7200 }),
    ),
    expired: await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        idp.mintJwt({ sub: `client-${i}`, iat: now - 7200, exp: now - 3600 }),
      ),
    ),
  };
  const logger = new CountingLogger(() => pools.opaque);
  const modules = soakApp(idp.issuer);
  const app = await NestFactory.create(modules.module, { logger, abortOnError: false });
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });

  // ID-service calls are tallied and the fake's request log emptied, so it does not grow.
  const calls = new Map<string, number>();
  const kindOf = new Map<string, Kind>([
    ...pools.valid.map((t): [string, Kind] => [t, 'valid']),
    ...pools.opaque.map((t): [string, Kind] => [t, 'valid-opaque']),
    ...pools.expired.map((t): [string, Kind] => [t, 'expired']),
  ]);
  /** Introspection calls by the kind of token asked about (forged and random ones are unique). */
  const introspected = new Map<string, number>();
  const tally = () => {
    for (const recorded of idp.requests) {
      calls.set(recorded.path, (calls.get(recorded.path) ?? 0) + 1);
      if (recorded.path === PATHS.introspection) {
        const kind = kindOf.get(recorded.form.get('token') ?? '') ?? 'forged or random';
        introspected.set(kind, (introspected.get(kind) ?? 0) + 1);
      }
    }
    idp.requests.length = 0;
  };

  // Warm-up: discovery, JWKS and a first introspection, so "before" includes the loaded code.
  for (const route of ['jwt', 'introspection'] as const) {
    await send(agent, port, `/${route}/whoami`, pools.valid[0]);
  }
  tally();
  calls.clear();
  introspected.clear();
  const heapBefore = heapAfterGc();

  const statuses = new Map<string, number>();
  const started = Date.now();
  const deadline = started + SECONDS * 1000;
  let sent = 0;
  let transportErrors = 0;
  let lastReport = started;
  const worker = async () => {
    while (Date.now() < deadline && sent < MAX_REQUESTS) {
      sent += 1;
      const { route, kind, token } = nextRequest(pools);
      try {
        const status = await send(agent, port, `/${route}/whoami`, token);
        const key = `${route.padEnd(13)} ${kind.padEnd(12)} ${status}`;
        statuses.set(key, (statuses.get(key) ?? 0) + 1);
      } catch {
        transportErrors += 1;
      }
      if (Date.now() - lastReport >= 10_000) {
        lastReport = Date.now();
        tally();
        const elapsed = (lastReport - started) / 1000;
        console.log(
          `  ${elapsed.toFixed(0).padStart(4)} s  ${n(sent).padStart(10)} requests  ${n(Math.round(sent / elapsed)).padStart(7)} req/s  heap ${mb(process.memoryUsage().heapUsed)}`,
        );
      }
    }
  };
  console.log(
    `Soak: ${SECONDS} s or ${n(MAX_REQUESTS)} requests, ${CONCURRENCY} concurrent, node ${process.version}`,
  );
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const seconds = (Date.now() - started) / 1000;
  tally();
  // Measured while the app still holds its caches: growth here is what a long-running service keeps.
  const heapAfter = heapAfterGc();

  const caches = {
    jwt: app.select(modules.verifiers.jwt).get(VerificationCache, { strict: true }).size,
    introspection: app
      .select(modules.verifiers.introspection)
      .get(VerificationCache, { strict: true }).size,
  };
  agent.destroy();
  await app.close();
  await idp.close();

  const total = [...statuses.values()].reduce((a, b) => a + b, 0);
  console.log(
    `\n${n(total)} requests in ${seconds.toFixed(1)} s (${n(Math.round(total / seconds))} req/s)`,
  );
  console.log('\nroute         token        status   count');
  for (const [key, count] of [...statuses].sort(([a], [b]) => a.localeCompare(b))) {
    console.log(`${key}  ${n(count).padStart(9)}`);
  }
  const byStatus = new Map<number, number>();
  for (const [key, count] of statuses) {
    const status = Number(key.slice(-3));
    byStatus.set(status, (byStatus.get(status) ?? 0) + count);
  }
  console.log(`\nby status: ${[...byStatus].map(([s, c]) => `${s}: ${n(c)}`).join(', ')}`);
  const unexpected5xx = [...byStatus]
    .filter(([status]) => status >= 500 && status !== DOCUMENTED_5XX)
    .reduce((sum, [, c]) => sum + c, 0);

  const idCalls = [...calls.values()].reduce((a, b) => a + b, 0);
  console.log(
    `\nID-service calls: ${n(idCalls)} (${((idCalls / total) * 1000).toFixed(1)} per 1,000 requests)`,
  );
  for (const [name, path] of Object.entries(PATHS)) {
    const count = calls.get(path) ?? 0;
    console.log(
      `  ${name.padEnd(14)} ${n(count).padStart(9)}  ${((count / total) * 1000).toFixed(2).padStart(8)} per 1,000`,
    );
  }
  console.log(
    `  introspection calls by token kind: ${[...introspected].map(([k, c]) => `${k} ${n(c)}`).join(', ')}`,
  );
  console.log(
    `\nheap after forced GC, app running: before ${mb(heapBefore)}, after ${mb(heapAfter)} (${heapAfter >= heapBefore ? '+' : ''}${mb(heapAfter - heapBefore)})${(globalThis as { gc?: unknown }).gc ? '' : '  [run with --expose-gc for a forced GC]'}`,
  );
  console.log(
    `verification cache entries at the end: jwt ${n(caches.jwt)}, introspection ${n(caches.introspection)} (cap 10,000 positive + 10,000 negative each)`,
  );
  console.log(`log lines: ${[...logger.levels].map(([l, c]) => `${l} ${n(c)}`).join(', ')}`);

  const violations = [
    ...(unexpected5xx > 0 ? [`${n(unexpected5xx)} responses with an undocumented 5xx`] : []),
    ...(transportErrors > 0
      ? [`${n(transportErrors)} requests failed at the transport level`]
      : []),
    ...logger.suspicious.map((line) => `log line may carry a token: ${line}`),
    ...(heapAfter - heapBefore > MAX_HEAP_GROWTH_MB * 1024 * 1024
      ? [`heap grew by ${mb(heapAfter - heapBefore)} (bound ${MAX_HEAP_GROWTH_MB} MB)`]
      : []),
  ];
  console.log(
    violations.length === 0 ? '\nverdict: OK' : `\nverdict: FAILED\n  ${violations.join('\n  ')}`,
  );
  if (violations.length > 0) process.exitCode = 1;
}

await main();
