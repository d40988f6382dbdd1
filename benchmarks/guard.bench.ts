// The guard's cost on Express and Fastify, each next to its baseline measured in the same run
// (interleaved rounds, medians, server CPU per request):
//
// - a cache hit (one reused JWT, the normal case for machine clients) and an introspection
//   strategy's hit, against a guard that only hashes the token and looks it up (the floor of a
//   result cache keyed by a digest of the token), a guard that returns true, and no guard;
// - a first-seen JWT (RS256, PS256, ES256, EdDSA: every request a token the guard has not
//   cached) against a guard that only calls jose's jwtVerify with a local key set, and (PS256, a
//   diagnostic) that guard after 20 µs of busy work on the event loop: what a fixed amount of
//   main-thread work per first-seen token costs in server CPU when each signature check is handed
//   to libuv's pool;
// - @nestjs/passport + passport-jwt + jwks-rsa and express-oauth2-jwt-bearer (Express);
// - heap after 200,000 distinct valid tokens and after 200,000 invalid ones (in process, after a
//   forced GC; both verification caches at their default cap of 10,000).
//
// Not a test: it prints, and exits 0.
//
//   npm run bench:guard
//   BENCH_DURATION=5 BENCH_ROUNDS=5 BENCH_CONNECTIONS=32 npm run bench:guard
//   BENCH_HEAP=0 npm run bench:guard        (without the heap part)
//
// Each platform's app runs in its own child process and autocannon in this one, so the load
// generator does not share the server's event loop and the apps do not share one process.
import 'reflect-metadata';
import { fork, type ChildProcess } from 'node:child_process';
import { hash, randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { availableParallelism } from 'node:os';
import type { AddressInfo } from 'node:net';
import {
  Controller,
  Get,
  Injectable,
  Module,
  type CanActivate,
  type ExecutionContext,
  UseGuards,
  type INestApplication,
  type MiddlewareConsumer,
  type NestModule,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host.js';
import { AuthGuard, PassportModule, PassportStrategy } from '@nestjs/passport';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import autocannon from 'autocannon';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { auth } from 'express-oauth2-jwt-bearer';
import jwksRsa from 'jwks-rsa';
import {
  ClientId,
  ClientTokenGuard,
  OidcClientCredentialsModule,
  RequireScopes,
  TokenVerificationStrategy,
  VerifyWith,
} from 'nest-oidc-client-credentials';
import { ExtractJwt, Strategy as JwtStrategy } from 'passport-jwt';
import { FakeIdService, PATHS } from 'nest-oidc-client-credentials/testing';

const DURATION = Number(process.env.BENCH_DURATION ?? 3);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const HEAP = process.env.BENCH_HEAP !== '0';
/** Distinct tokens per algorithm for the first-seen JWT routes (twice their cache's cap). */
const COLD_TOKENS = Number(process.env.BENCH_COLD_TOKENS ?? 2000);
const HEAP_TOKENS = Number(process.env.BENCH_HEAP_TOKENS ?? 200_000);
const AUDIENCE = 'urn:orders-api';
const API = { id: 'orders-api', secret: 'orders-api-secret' };
/** Targets: a hit ≥ 0.95× the hash-and-lookup floor, a first-seen JWT ≥ 0.9× raw jose. */
const HIT_TARGET = 0.95;
const COLD_TARGET = 0.9;
const HEAP_TARGET_MB = { valid: 11, invalid: 4 };

type Platform = 'express' | 'fastify';
const PLATFORMS: readonly Platform[] = ['express', 'fastify'];
const ALGORITHMS = ['RS256', 'PS256', 'ES256', 'EdDSA'] as const;
type Algorithm = (typeof ALGORITHMS)[number];

interface Target {
  label: string;
  url: string;
  /** The tokens it is sent, one per request in turn: `hit` and `opaque` are one reused token. */
  tokens: 'hit' | 'opaque' | Algorithm;
}

// ---------------------------------------------------------------------------------------------
// Server side (child process): the ID service and the apps.
// ---------------------------------------------------------------------------------------------

/** Nest's own cost of any guard: one that lets every request through without looking at it. */
@Injectable()
class AllowAllGuard implements CanActivate {
  canActivate(): boolean {
    return true;
  }
}

/** What {@link HashOnlyGuard} looks its digests up in. */
const floorCache = new Map<string, boolean>();

/**
 * The least a guard with a result cache keyed by SHA-256 of the token can do: read the header,
 * hash it and look the digest up, synchronously, then let the request through. The floor of
 * ClientTokenGuard's cache hit.
 */
@Injectable()
class HashOnlyGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const { authorization } = context.switchToHttp().getRequest<IncomingMessage>().headers;
    const key = hash('sha256', authorization ?? '', 'base64url');
    const known = floorCache.get(key);
    if (known === undefined) floorCache.set(key, true);
    return known ?? true;
  }
}

/** A guard that only calls jose's jwtVerify with a local key set: the floor of a first-seen JWT. */
function rawJoseGuard(idp: FakeIdService, algorithm: Algorithm) {
  const keys = createLocalJWKSet(idp.jwks());
  @Injectable()
  class RawJoseGuard implements CanActivate {
    async canActivate(context: ExecutionContext): Promise<boolean> {
      const header = context.switchToHttp().getRequest<IncomingMessage>().headers.authorization;
      const { payload } = await jwtVerify((header ?? '').slice(7), keys, {
        issuer: idp.issuer,
        audience: AUDIENCE,
        algorithms: [algorithm],
      });
      return typeof payload.sub === 'string';
    }
  }
  return RawJoseGuard;
}

/** The main-thread work the busy raw jose guard adds to each request (µs). */
const BUSY_MICROS = 20;
/** The one algorithm the busy raw jose guard is measured with (to keep the run short). */
const BUSY_ALGORITHM: Algorithm = 'PS256';

/**
 * The raw jose guard after {@link BUSY_MICROS} of synchronous work on the event loop: shows what a
 * fixed amount of main-thread work per first-seen token costs in server CPU, since the signature
 * check itself runs on libuv's pool (WebCrypto) and each idle pool thread has to be woken for it.
 */
function busyRawJoseGuard(idp: FakeIdService, algorithm: Algorithm) {
  const RawJose = rawJoseGuard(idp, algorithm);
  @Injectable()
  class BusyRawJoseGuard extends RawJose {
    override canActivate(context: ExecutionContext): Promise<boolean> {
      const until = process.hrtime.bigint() + BigInt(BUSY_MICROS * 1000);
      while (process.hrtime.bigint() < until);
      return super.canActivate(context);
    }
  }
  return BusyRawJoseGuard;
}

/** The controller of each algorithm's app. */
const ColdControllers = new Map<Algorithm, new () => object>();

/** An app per algorithm: a first-seen JWT behind ClientTokenGuard and behind the raw jose guard. */
function coldModule(idp: FakeIdService, algorithm: Algorithm) {
  @Controller()
  class ColdController {
    @Get('cold')
    @UseGuards(ClientTokenGuard)
    @RequireScopes('orders:read')
    cold() {
      return { clientId: 'billing' };
    }

    @Get('raw-jose')
    @UseGuards(rawJoseGuard(idp, algorithm))
    rawJose() {
      return { clientId: 'billing' };
    }

    @Get('raw-jose-busy')
    @UseGuards(busyRawJoseGuard(idp, algorithm))
    rawJoseBusy() {
      return { clientId: 'billing' };
    }
  }
  @Module({
    imports: [
      OidcClientCredentialsModule.forRoot({
        issuer: idp.issuer,
        // The cap below the number of tokens sent in turn: every request is a miss.
        verification: {
          strategy: 'jwt',
          audience: AUDIENCE,
          algorithms: [algorithm],
          cacheMaxEntries: COLD_TOKENS / 2,
        },
      }),
    ],
    controllers: [ColdController],
  })
  class ColdModule {}
  ColdControllers.set(algorithm, ColdController);
  return ColdModule;
}

/** The same handler five times: without a guard, with a guard that returns true, with one that only hashes the token, with ClientTokenGuard, and reading @ClientId(). */
@Controller()
class OrdersController {
  @Get('open')
  open() {
    return { clientId: 'billing' };
  }

  @Get('guarded')
  @UseGuards(ClientTokenGuard)
  @RequireScopes('orders:read')
  guarded() {
    return { clientId: 'billing' };
  }

  @Get('allow-all')
  @UseGuards(AllowAllGuard)
  allowAll() {
    return { clientId: 'billing' };
  }

  @Get('hash-only')
  @UseGuards(HashOnlyGuard)
  hashOnly() {
    return { clientId: 'billing' };
  }

  @Get('client-id')
  @UseGuards(ClientTokenGuard)
  @RequireScopes('orders:read')
  clientId(@ClientId() clientId: string) {
    return { clientId };
  }

  @Get('introspected')
  @UseGuards(ClientTokenGuard)
  @VerifyWith('introspection')
  @RequireScopes('orders:read')
  introspected() {
    return { clientId: 'billing' };
  }
}

@Controller()
class PassportController {
  @Get('passport')
  @UseGuards(AuthGuard('jwt'))
  passport() {
    return { clientId: 'billing' };
  }
}

@Controller()
class Auth0Controller {
  @Get('oauth2-jwt-bearer')
  bearer() {
    return { clientId: 'billing' };
  }
}

function expressModule(idp: FakeIdService) {
  @Injectable()
  class PassportJwt extends PassportStrategy(JwtStrategy, 'jwt') {
    constructor() {
      super({
        jwtFromRequest: ExtractJwt.fromAuthHeaderAsBearerToken(),
        secretOrKeyProvider: jwksRsa.passportJwtSecret({
          jwksUri: idp.url(PATHS.jwks),
          cache: true,
          rateLimit: true,
        }),
        issuer: idp.issuer,
        audience: AUDIENCE,
        algorithms: ['RS256'],
      });
    }
    validate(payload: { sub: string }) {
      return { clientId: payload.sub };
    }
  }

  @Module({
    imports: [
      OidcClientCredentialsModule.forRoot({
        issuer: idp.issuer,
        clientId: API.id,
        clientSecret: API.secret,
        verification: { strategy: 'jwt', audience: AUDIENCE },
      }),
      PassportModule,
    ],
    controllers: [OrdersController, PassportController, Auth0Controller],
    providers: [PassportJwt],
  })
  class ExpressBenchModule implements NestModule {
    configure(consumer: MiddlewareConsumer) {
      consumer
        .apply(
          auth({
            issuer: idp.issuer,
            jwksUri: idp.url(PATHS.jwks),
            audience: AUDIENCE,
            tokenSigningAlg: 'RS256',
          }),
        )
        .forRoutes('oauth2-jwt-bearer');
    }
  }
  return ExpressBenchModule;
}

function fastifyModule(idp: FakeIdService) {
  @Module({
    imports: [
      OidcClientCredentialsModule.forRoot({
        issuer: idp.issuer,
        clientId: API.id,
        clientSecret: API.secret,
        verification: { strategy: 'jwt', audience: AUDIENCE },
      }),
    ],
    controllers: [OrdersController],
  })
  class FastifyBenchModule {}
  return FastifyBenchModule;
}

async function listen(app: INestApplication): Promise<string> {
  await app.listen(0, '127.0.0.1');
  return `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
}

/**
 * The guard's own cost without HTTP: `canActivate` on a request shaped like Node's, for the guarded
 * route, next to the strategy's cached `verify` alone. Steadier than throughput on a busy machine.
 */
async function inProcessCost(app: INestApplication, token: string) {
  const guard = app.get(ClientTokenGuard, { strict: false });
  const strategy = app.get(TokenVerificationStrategy, { strict: false });
  const request = {
    method: 'GET',
    url: '/guarded',
    headers: { host: '127.0.0.1', authorization: `Bearer ${token}` },
    rawHeaders: ['Host', '127.0.0.1', 'Authorization', `Bearer ${token}`, 'Accept', '*/*'],
  };
  const context = new ExecutionContextHost(
    [request, {}, undefined],
    OrdersController,
    OrdersController.prototype.guarded,
  );
  // A synchronous answer is not awaited: awaiting it would measure the await.
  const perCall = async (fn: () => unknown) => {
    const calls = 200_000;
    for (let i = 0; i < calls / 4; i += 1) {
      const result = fn();
      if (result instanceof Promise) await result;
    }
    const start = process.hrtime.bigint();
    for (let i = 0; i < calls; i += 1) {
      const result = fn();
      if (result instanceof Promise) await result;
    }
    return Number(process.hrtime.bigint() - start) / calls / 1000;
  };
  const floor = new HashOnlyGuard();
  const results = { guard: [] as number[], verify: [] as number[], floor: [] as number[] };
  for (let round = 0; round < 5; round += 1) {
    results.guard.push(await perCall(() => guard.canActivate(context)));
    results.verify.push(await perCall(() => strategy.verify(token)));
    results.floor.push(await perCall(() => floor.canActivate(context)));
  }
  return {
    guardMicros: median(results.guard),
    verifyMicros: median(results.verify),
    floorMicros: median(results.floor),
  };
}

/**
 * A first-seen JWT in process, without HTTP: `canActivate` of the cold app's ClientTokenGuard
 * route, and jose's jwtVerify with a local key set, on the same tokens in turn (all misses: twice
 * the cache's cap). CPU time of the process per token (jose checks signatures on libuv's pool).
 */
async function inProcessCold(
  app: INestApplication,
  idp: FakeIdService,
  algorithm: Algorithm,
  tokens: readonly string[],
) {
  const guard = app.get(ClientTokenGuard, { strict: false });
  const keys = createLocalJWKSet(idp.jwks());
  const controller = app.get(ColdControllers.get(algorithm)!, { strict: false }) as object;
  const handler = (controller.constructor.prototype as { cold: () => unknown }).cold;
  const context = (token: string) =>
    new ExecutionContextHost(
      [
        {
          method: 'GET',
          url: '/cold',
          headers: { authorization: `Bearer ${token}` },
          rawHeaders: ['Authorization', `Bearer ${token}`],
        },
        { header: () => undefined },
        undefined,
      ],
      controller.constructor as never,
      handler,
    );
  const cpuPerToken = async (check: (token: string) => unknown) => {
    const before = process.cpuUsage();
    for (const token of tokens) await check(token);
    const { user, system } = process.cpuUsage(before);
    return (user + system) / tokens.length;
  };
  const options = { issuer: idp.issuer, audience: AUDIENCE, algorithms: [algorithm] };
  const results = { guard: [] as number[], jose: [] as number[] };
  for (let round = 0; round < 5; round += 1) {
    results.guard.push(await cpuPerToken((token) => guard.canActivate(context(token))));
    results.jose.push(await cpuPerToken((token) => jwtVerify(token, keys, options)));
  }
  return { guardMicros: median(results.guard), joseMicros: median(results.jose) };
}

async function serve(platform: Platform): Promise<void> {
  const clients = { billing: { secret: 'billing-secret' }, [API.id]: { secret: API.secret } };
  const idp = await FakeIdService.start({ clients });
  const token = await idp.mintJwt({ sub: 'billing', aud: AUDIENCE, scope: 'orders:read' });
  const opaque = idp.mintOpaque('billing', {
    scope: 'orders:read',
    lifetimeSeconds: 3600,
    audience: AUDIENCE,
  });
  const create = (module: object) =>
    platform === 'express'
      ? NestFactory.create(module, { logger: false })
      : NestFactory.create(module, new FastifyAdapter(), { logger: false });
  const app = await create(platform === 'express' ? expressModule(idp) : fastifyModule(idp));
  const url = await listen(app);
  const targets: Target[] = [
    { label: `${platform}  unguarded`, url: `${url}/open`, tokens: 'hit' },
    { label: `${platform}  a guard that returns true`, url: `${url}/allow-all`, tokens: 'hit' },
    { label: `${platform}  hash-and-lookup floor`, url: `${url}/hash-only`, tokens: 'hit' },
    { label: `${platform}  ClientTokenGuard, cache hit`, url: `${url}/guarded`, tokens: 'hit' },
    { label: `${platform}  … + @ClientId()`, url: `${url}/client-id`, tokens: 'hit' },
    {
      label: `${platform}  introspection, cache hit`,
      url: `${url}/introspected`,
      tokens: 'opaque',
    },
  ];
  if (platform === 'express') {
    targets.push(
      { label: 'express  passport-jwt + jwks-rsa', url: `${url}/passport`, tokens: 'hit' },
      {
        label: 'express  express-oauth2-jwt-bearer',
        url: `${url}/oauth2-jwt-bearer`,
        tokens: 'hit',
      },
    );
  }
  const closers: (() => Promise<void>)[] = [() => app.close(), () => idp.close()];
  const coldApps: [Algorithm, INestApplication, FakeIdService][] = [];
  const tokens: Record<string, string[]> = { hit: [token], opaque: [opaque] };
  for (const alg of ALGORITHMS) {
    const algIdp = await FakeIdService.start({ clients, alg });
    const coldApp = await create(coldModule(algIdp, alg));
    const coldUrl = await listen(coldApp);
    closers.push(
      () => coldApp.close(),
      () => algIdp.close(),
    );
    coldApps.push([alg, coldApp, algIdp]);
    tokens[alg] = [];
    for (let i = 0; i < COLD_TOKENS; i += 1) {
      tokens[alg].push(
        await algIdp.mintJwt({ sub: 'billing', aud: AUDIENCE, scope: 'orders:read', jti: `${i}` }),
      );
    }
    targets.push(
      {
        label: `${platform}  ${alg} first seen, ClientTokenGuard`,
        url: `${coldUrl}/cold`,
        tokens: alg,
      },
      {
        label: `${platform}  ${alg} first seen, raw jose`,
        url: `${coldUrl}/raw-jose`,
        tokens: alg,
      },
    );
    if (alg === BUSY_ALGORITHM) {
      targets.push({
        label: `${platform}  ${alg} first seen, raw jose + ${BUSY_MICROS} µs busy`,
        url: `${coldUrl}/raw-jose-busy`,
        tokens: alg,
      });
    }
  }
  process.send!({ tokens, targets });
  process.on('message', async (message) => {
    if (message === 'cpu') {
      const { user, system } = process.cpuUsage();
      process.send!({ cpu: user + system });
    } else if (message === 'requests') {
      process.send!({ idpRequests: idp.requests.map((r) => r.path) });
    } else if (message === 'in-process') {
      const cold: Record<string, { guardMicros: number; joseMicros: number }> = {};
      for (const [alg, coldApp, algIdp] of coldApps) {
        cold[alg] = await inProcessCold(coldApp, algIdp, alg, tokens[alg]);
      }
      process.send!({ ...(await inProcessCost(app, token)), cold });
    } else {
      for (const close of closers) await close();
      process.exit(0);
    }
  });
}

/**
 * Heap after `HEAP_TOKENS` distinct valid tokens, then as many invalid ones (half forged
 * signatures, half random strings), each through `canActivate` in process; after a forced GC.
 */
async function heap(): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc!;
  const idp = await FakeIdService.start({ alg: 'EdDSA' });
  const app = await NestFactory.create(fastifyModule(idp), new FastifyAdapter(), {
    logger: false,
  });
  await app.init();
  const guard = app.get(ClientTokenGuard, { strict: false });
  const check = async (token: string) => {
    const request = {
      method: 'GET',
      url: '/guarded',
      headers: { host: '127.0.0.1', authorization: `Bearer ${token}` },
      rawHeaders: ['Host', '127.0.0.1', 'Authorization', `Bearer ${token}`],
    };
    const context = new ExecutionContextHost(
      [request, { header: () => undefined }, undefined],
      OrdersController,
      OrdersController.prototype.guarded,
    );
    try {
      return await guard.canActivate(context);
    } catch {
      return false;
    }
  };
  const mint = (i: number) =>
    idp.mintJwt({ sub: 'billing', aud: AUDIENCE, scope: 'orders:read', jti: `heap-${i}` });
  const heapMb = () => {
    gc();
    gc();
    return process.memoryUsage().heapUsed / 1024 / 1024;
  };
  // Warm up: the JWKS, the JIT, the module's lazily built parts.
  for (let i = 0; i < 200; i += 1) await check(await mint(-i - 1));
  const before = heapMb();
  let accepted = 0;
  for (let i = 0; i < HEAP_TOKENS; i += 1) if (await check(await mint(i))) accepted += 1;
  const afterValid = heapMb();
  const signed = await mint(-1000);
  const [header, payload] = signed.split('.');
  let refused = 0;
  for (let i = 0; i < HEAP_TOKENS; i += 1) {
    const bad =
      i % 2 === 0
        ? `${header}.${payload}.${randomBytes(64).toString('base64url')}`
        : randomBytes(96).toString('base64url');
    if (!(await check(bad))) refused += 1;
  }
  const afterInvalid = heapMb();
  process.send!({ before, afterValid, afterInvalid, accepted, refused });
  await app.close();
  await idp.close();
  process.exit(0);
}

// ---------------------------------------------------------------------------------------------
// Driver side (this process): autocannon against every target, round after round.
// ---------------------------------------------------------------------------------------------

interface Run {
  rps: number;
  p50: number;
  p99: number;
  /** CPU time of the server process per request, in µs: robust against a busy machine. */
  cpuPerRequest: number;
  failures: number;
}

/** Sends one message to the child and waits for the reply. */
function ask<T>(child: ChildProcess, message: string): Promise<T> {
  return new Promise((resolve) => {
    child.once('message', (reply) => resolve(reply as T));
    child.send(message);
  });
}

async function measure(
  child: ChildProcess,
  url: string,
  tokens: readonly string[],
  duration: number,
): Promise<Run> {
  const before = await ask<{ cpu: number }>(child, 'cpu');
  let next = 0;
  const result = await autocannon({
    url,
    connections: CONNECTIONS,
    duration,
    ...(tokens.length === 1
      ? { headers: { authorization: `Bearer ${tokens[0]}` } }
      : {
          // Each request the next token in turn: more tokens than the cache holds, so all misses.
          requests: [
            {
              setupRequest: (request) => ({
                ...request,
                headers: { authorization: `Bearer ${tokens[next++ % tokens.length]}` },
              }),
            },
          ],
        }),
  });
  const after = await ask<{ cpu: number }>(child, 'cpu');
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    cpuPerRequest: (after.cpu - before.cpu) / Math.max(1, result.requests.total),
    failures: result.non2xx + result.errors + result.timeouts,
  };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1];

interface Summary {
  rps: number;
  p50: number;
  p99: number;
  cpu: number;
  failures: number;
}

/** The ratios the targets are about: by server CPU per request, `baseline / measured`. */
function ratios(summary: Map<string, Summary>): string[] {
  const lines: string[] = [];
  const ratio = (measured: string, baseline: string, target?: number) => {
    const m = summary.get(measured);
    const b = summary.get(baseline);
    if (!m || !b) return;
    const value = b.cpu / m.cpu;
    const verdict =
      target === undefined ? '' : `, target ≥ ${target}×: ${value >= target ? 'met' : 'NOT met'}`;
    lines.push(
      `  ${measured.trim()} / ${baseline.replace(/^\S+\s+/, '')}: ${value.toFixed(3)}×${verdict}`,
    );
  };
  for (const platform of PLATFORMS) {
    ratio(
      `${platform}  ClientTokenGuard, cache hit`,
      `${platform}  hash-and-lookup floor`,
      HIT_TARGET,
    );
    ratio(
      `${platform}  introspection, cache hit`,
      `${platform}  hash-and-lookup floor`,
      HIT_TARGET,
    );
    ratio(`${platform}  ClientTokenGuard, cache hit`, `${platform}  unguarded`);
    ratio(`${platform}  hash-and-lookup floor`, `${platform}  unguarded`);
    ratio(`${platform}  a guard that returns true`, `${platform}  unguarded`);
    for (const alg of ALGORITHMS) {
      ratio(
        `${platform}  ${alg} first seen, ClientTokenGuard`,
        `${platform}  ${alg} first seen, raw jose`,
        COLD_TARGET,
      );
    }
    ratio(
      `${platform}  ${BUSY_ALGORITHM} first seen, raw jose + ${BUSY_MICROS} µs busy`,
      `${platform}  ${BUSY_ALGORITHM} first seen, raw jose`,
    );
  }
  return lines;
}

async function measureHeap(): Promise<void> {
  const child = fork(process.argv[1], ['--heap'], {
    execArgv: [...process.execArgv, '--expose-gc'],
  });
  const result = await new Promise<{
    before: number;
    afterValid: number;
    afterInvalid: number;
    accepted: number;
    refused: number;
  }>((resolve) => child.once('message', (m) => resolve(m as never)));
  const valid = result.afterValid - result.before;
  const invalid = result.afterInvalid - result.afterValid;
  const verdict = (value: number, max: number) =>
    `target ≤ +${max} MB: ${value <= max ? 'met' : 'NOT met'}`;
  console.log(
    `  heap (in process, after a forced GC, ${result.before.toFixed(1)} MB with the app running): ${HEAP_TOKENS.toLocaleString('en')} distinct valid tokens (${result.accepted} accepted) +${valid.toFixed(1)} MB, ${verdict(valid, HEAP_TARGET_MB.valid)}; then ${HEAP_TOKENS.toLocaleString('en')} invalid ones (${result.refused} refused) +${invalid.toFixed(1)} MB, ${verdict(invalid, HEAP_TARGET_MB.invalid)}`,
  );
}

async function drive(): Promise<void> {
  // One child process per platform: each app has the process to itself, as it would in production.
  const servers = new Map<
    Platform,
    { child: ChildProcess; tokens: Record<string, string[]>; targets: Target[] }
  >();
  for (const platform of PLATFORMS) {
    const child = fork(process.argv[1], ['--serve', platform], { execArgv: process.execArgv });
    const { tokens, targets } = await new Promise<{
      tokens: Record<string, string[]>;
      targets: Target[];
    }>((resolve) =>
      child.once('message', (m) =>
        resolve(m as { tokens: Record<string, string[]>; targets: Target[] }),
      ),
    );
    servers.set(platform, { child, tokens, targets });
  }
  const all = [...servers.values()].flatMap((server) =>
    server.targets.map((target) => ({ target, server })),
  );
  const targets = all.map((entry) => entry.target);
  try {
    // Every target once, briefly, before anything counts: JIT, caches and JWKS fetches.
    for (const { target, server } of all) {
      const warm = await measure(server.child, target.url, server.tokens[target.tokens], 1);
      if (warm.failures > 0) throw new Error(`${target.label}: ${warm.failures} failed requests`);
    }
    const runs = new Map(targets.map((t) => [t.label, [] as Run[]]));
    for (let round = 0; round < ROUNDS; round += 1) {
      // Alternate the order so no target always runs on a warmer or cooler machine.
      const order = round % 2 === 0 ? all : [...all].reverse();
      for (const { target, server } of order) {
        runs
          .get(target.label)!
          .push(await measure(server.child, target.url, server.tokens[target.tokens], DURATION));
      }
    }
    const idpRequests: string[] = [];
    const inProcess = new Map<
      Platform,
      {
        guardMicros: number;
        verifyMicros: number;
        floorMicros: number;
        cold: Record<string, { guardMicros: number; joseMicros: number }>;
      }
    >();
    for (const [platform, server] of servers) {
      idpRequests.push(
        ...(await ask<{ idpRequests: string[] }>(server.child, 'requests')).idpRequests,
      );
      inProcess.set(platform, await ask(server.child, 'in-process'));
    }
    const summary = new Map<string, Summary>(
      targets.map((t) => {
        const r = runs.get(t.label)!;
        return [
          t.label,
          {
            rps: median(r.map((x) => x.rps)),
            p50: median(r.map((x) => x.p50)),
            p99: median(r.map((x) => x.p99)),
            cpu: median(r.map((x) => x.cpuPerRequest)),
            failures: r.reduce((sum, x) => sum + x.failures, 0),
          },
        ];
      }),
    );
    console.log(
      `${ROUNDS} rounds × ${DURATION} s per route, ${CONNECTIONS} connections, interleaved, medians; first-seen JWTs: ${COLD_TOKENS} tokens per algorithm in turn, twice the cache's cap`,
    );
    console.log(
      `  node ${process.version}, ${process.arch}, ${availableParallelism()} CPUs; one child process per platform, autocannon in this one`,
    );
    console.log(
      `  ${'route'.padEnd(48)} ${'req/s'.padStart(7)} ${'p50 ms'.padStart(6)} ${'p99 ms'.padStart(6)}  ${'server CPU µs/req'.padStart(17)}`,
    );
    for (const target of targets) {
      const m = summary.get(target.label)!;
      console.log(
        `  ${target.label.padEnd(48)} ${Math.round(m.rps).toString().padStart(7)} ${m.p50.toFixed(0).padStart(6)} ${m.p99.toFixed(0).padStart(6)}  ${m.cpu.toFixed(1).padStart(17)}${m.failures ? `  (${m.failures} failed)` : ''}`,
      );
    }
    console.log(
      'ratios by server CPU per request (baseline / measured; 1.0 = as cheap as the baseline):',
    );
    for (const line of ratios(summary)) console.log(line);
    const counts = idpRequests.reduce<Record<string, number>>((acc, path) => {
      acc[path] = (acc[path] ?? 0) + 1;
      return acc;
    }, {});
    console.log(
      `  requests to the main apps' ID service during the whole run: ${JSON.stringify(counts)}`,
    );
    console.log('in process, no HTTP (CPU per call; steadier than HTTP on a busy host):');
    for (const [platform, cost] of inProcess) {
      console.log(
        `  ${platform}: ClientTokenGuard.canActivate, cache hit ${cost.guardMicros.toFixed(2)} µs; hash-and-lookup floor ${cost.floorMicros.toFixed(2)} µs; the strategy's cached verify ${cost.verifyMicros.toFixed(2)} µs`,
      );
      for (const [alg, cold] of Object.entries(cost.cold)) {
        const value = cold.joseMicros / cold.guardMicros;
        // A diagnostic: one token at a time, so each waits for its signature check on libuv's
        // pool with the event loop idle. The target is the server CPU per request above.
        console.log(
          `  ${platform}: ${alg} first seen, canActivate ${cold.guardMicros.toFixed(1)} µs, jose's jwtVerify ${cold.joseMicros.toFixed(1)} µs: ${value.toFixed(3)}× (one token at a time)`,
        );
      }
    }
  } finally {
    for (const server of servers.values()) server.child.send('close');
  }
  if (HEAP) await measureHeap();
}

const serveIndex = process.argv.indexOf('--serve');
if (serveIndex >= 0) await serve(process.argv[serveIndex + 1] as Platform);
else if (process.argv.includes('--heap')) await heap();
else await drive();
