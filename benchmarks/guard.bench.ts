// Throughput of a route guarded by ClientTokenGuard next to the same app's unguarded route, with one
// reused JWT (the normal case for machine clients), and of the same route protected by
// @nestjs/passport + passport-jwt + jwks-rsa and by express-oauth2-jwt-bearer, all against the fake
// ID service's JWKS, measured in one run (issue 3: guarded ≥ 90% of unguarded). Not a test: it
// prints, and exits 0.
//
//   npm run bench:guard
//   BENCH_DURATION=10 BENCH_ROUNDS=3 BENCH_CONNECTIONS=32 npm run bench:guard
//
// Each platform's app runs in its own child process and autocannon in this one, so the load
// generator does not share the server's event loop and the apps do not share one process.
import 'reflect-metadata';
import { fork, type ChildProcess } from 'node:child_process';
import { hash } from 'node:crypto';
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
import { auth } from 'express-oauth2-jwt-bearer';
import jwksRsa from 'jwks-rsa';
import {
  ClientId,
  ClientTokenGuard,
  OidcClientCredentialsModule,
  RequireScopes,
  TokenVerificationStrategy,
} from 'nest-oidc-client-credentials';
import { ExtractJwt, Strategy as JwtStrategy } from 'passport-jwt';
import { FakeIdService, PATHS } from 'nest-oidc-client-credentials/testing';

const DURATION = Number(process.env.BENCH_DURATION ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const AUDIENCE = 'urn:orders-api';
const TARGET = 0.9;

type Platform = 'express' | 'fastify';
const PLATFORMS: readonly Platform[] = ['express', 'fastify'];

interface Target {
  label: string;
  url: string;
  /** Label of the unguarded route of the same app, for the ratio. */
  baseline?: string;
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

/**
 * The least a guard with a result cache keyed by SHA-256 of the token can do: read the header and
 * hash it, then let the request through. Shows how much of ClientTokenGuard's cost is that floor.
 */
@Injectable()
class HashOnlyGuard implements CanActivate {
  async canActivate(context: ExecutionContext): Promise<boolean> {
    const { authorization } = context.switchToHttp().getRequest<IncomingMessage>().headers;
    return hash('sha256', authorization ?? '', 'base64url').length > 0;
  }
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
  const perCall = async (fn: () => Promise<unknown>) => {
    const calls = 200_000;
    for (let i = 0; i < calls / 4; i += 1) await fn();
    const start = process.hrtime.bigint();
    for (let i = 0; i < calls; i += 1) await fn();
    return Number(process.hrtime.bigint() - start) / calls / 1000;
  };
  const results = { guard: [] as number[], verify: [] as number[] };
  for (let round = 0; round < 5; round += 1) {
    results.guard.push(await perCall(() => guard.canActivate(context)));
    results.verify.push(await perCall(() => strategy.verify(token)));
  }
  return { guardMicros: median(results.guard), verifyMicros: median(results.verify) };
}

async function serve(platform: Platform): Promise<void> {
  const idp = await FakeIdService.start({ clients: { billing: { secret: 'billing-secret' } } });
  const token = await idp.mintJwt({ sub: 'billing', aud: AUDIENCE, scope: 'orders:read' });
  const app =
    platform === 'express'
      ? await NestFactory.create(expressModule(idp), { logger: false })
      : await NestFactory.create(fastifyModule(idp), new FastifyAdapter(), { logger: false });
  const url = await listen(app);
  const baseline = `${platform}  unguarded`;
  const targets: Target[] = [
    { label: baseline, url: `${url}/open` },
    { label: `${platform}  a guard that returns true`, url: `${url}/allow-all`, baseline },
    { label: `${platform}  a guard that only hashes`, url: `${url}/hash-only`, baseline },
    { label: `${platform}  ClientTokenGuard`, url: `${url}/guarded`, baseline },
    { label: `${platform}  ClientTokenGuard + @ClientId()`, url: `${url}/client-id`, baseline },
  ];
  if (platform === 'express') {
    targets.push(
      { label: 'express  passport-jwt + jwks-rsa', url: `${url}/passport`, baseline },
      { label: 'express  express-oauth2-jwt-bearer', url: `${url}/oauth2-jwt-bearer`, baseline },
    );
  }
  process.send!({ token, targets });
  process.on('message', async (message) => {
    if (message === 'cpu') {
      const { user, system } = process.cpuUsage();
      process.send!({ cpu: user + system });
    } else if (message === 'requests') {
      process.send!({ idpRequests: idp.requests.map((r) => r.path) });
    } else if (message === 'in-process') {
      process.send!(await inProcessCost(app, token));
    } else {
      await app.close();
      await idp.close();
      process.exit(0);
    }
  });
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
  token: string,
  duration: number,
): Promise<Run> {
  const before = await ask<{ cpu: number }>(child, 'cpu');
  const result = await autocannon({
    url,
    connections: CONNECTIONS,
    duration,
    headers: { authorization: `Bearer ${token}` },
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
const percent = (value: number) => `${(value * 100).toFixed(1)}%`;

async function drive(): Promise<void> {
  // One child process per platform: each app has the process to itself, as it would in production.
  const servers = new Map<Platform, { child: ChildProcess; token: string; targets: Target[] }>();
  for (const platform of PLATFORMS) {
    const child = fork(process.argv[1], ['--serve', platform], { execArgv: process.execArgv });
    const { token, targets } = await new Promise<{ token: string; targets: Target[] }>((resolve) =>
      child.once('message', (m) => resolve(m as { token: string; targets: Target[] })),
    );
    servers.set(platform, { child, token, targets });
  }
  const all = [...servers.values()].flatMap((server) =>
    server.targets.map((target) => ({ target, server })),
  );
  const targets = all.map((entry) => entry.target);
  try {
    // Every target once, briefly, before anything counts: JIT, caches and JWKS fetches.
    for (const { target, server } of all) {
      const warm = await measure(server.child, target.url, server.token, 1);
      if (warm.failures > 0) throw new Error(`${target.label}: ${warm.failures} failed requests`);
    }
    const runs = new Map(targets.map((t) => [t.label, [] as Run[]]));
    for (let round = 0; round < ROUNDS; round += 1) {
      // Alternate the order so no target always runs on a warmer or cooler machine.
      const order = round % 2 === 0 ? all : [...all].reverse();
      for (const { target, server } of order) {
        runs
          .get(target.label)!
          .push(await measure(server.child, target.url, server.token, DURATION));
      }
    }
    const idpRequests: string[] = [];
    const inProcess = new Map<Platform, { guardMicros: number; verifyMicros: number }>();
    for (const [platform, server] of servers) {
      idpRequests.push(
        ...(await ask<{ idpRequests: string[] }>(server.child, 'requests')).idpRequests,
      );
      inProcess.set(platform, await ask(server.child, 'in-process'));
    }
    const summary = new Map(
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
      `GET with one reused RS256 JWT: ${ROUNDS} rounds × ${DURATION} s, ${CONNECTIONS} connections, medians`,
    );
    console.log(
      `  node ${process.version}, ${process.arch}, ${availableParallelism()} CPUs; one child process per platform, autocannon in this one`,
    );
    console.log(
      `  ${'route'.padEnd(40)} ${'req/s'.padStart(7)} ${'p50 ms'.padStart(6)} ${'p99 ms'.padStart(6)} ${'vs open'.padStart(7)}  ${'server CPU µs/req'.padStart(17)} ${'vs open'.padStart(7)}`,
    );
    for (const target of targets) {
      const m = summary.get(target.label)!;
      const base = target.baseline ? summary.get(target.baseline)! : undefined;
      console.log(
        `  ${target.label.padEnd(40)} ${Math.round(m.rps).toString().padStart(7)} ${m.p50.toFixed(0).padStart(6)} ${m.p99.toFixed(0).padStart(6)} ${(base ? percent(m.rps / base.rps) : '').padStart(7)}  ${m.cpu.toFixed(1).padStart(17)} ${(base ? percent(base.cpu / m.cpu) : '').padStart(7)}${m.failures ? `  (${m.failures} failed)` : ''}`,
      );
    }
    for (const platform of PLATFORMS) {
      const guarded = summary.get(`${platform}  ClientTokenGuard`)!;
      const open = summary.get(`${platform}  unguarded`)!;
      const ratio = guarded.rps / open.rps;
      console.log(
        `  ${platform}: guarded / unguarded ${percent(ratio)} of req/s (${percent(open.cpu / guarded.cpu)} by server CPU per request), target ≥ ${TARGET * 100}%: ${ratio >= TARGET ? 'met' : 'NOT met'}`,
      );
    }
    const counts = idpRequests.reduce<Record<string, number>>((acc, path) => {
      acc[path] = (acc[path] ?? 0) + 1;
      return acc;
    }, {});
    console.log(`  requests to the ID service during the whole run: ${JSON.stringify(counts)}`);
    for (const [platform, cost] of inProcess) {
      console.log(
        `  ${platform}, in process, no HTTP: ClientTokenGuard.canActivate ${cost.guardMicros.toFixed(2)} µs per call, of which the strategy's cached verify ${cost.verifyMicros.toFixed(2)} µs`,
      );
    }
  } finally {
    for (const server of servers.values()) server.child.send('close');
  }
}

const serveIndex = process.argv.indexOf('--serve');
if (serveIndex >= 0) await serve(process.argv[serveIndex + 1] as Platform);
else await drive();
