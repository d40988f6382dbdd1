// The cost of DPoP on a guarded route, next to a bearer token in the same run (interleaved rounds,
// medians), on Express and Fastify:
//
// - bearer: one reused JWT (a verification cache hit);
// - DPoP: one reused DPoP-bound JWT (the same cache hit) with a fresh proof per request — one
//   ES256 signature check, the htm/htu/iat/ath/jkt checks, and the proof's jti set once on Redis
//   (SET NX PX, shared by the instances: a Redis round trip per request).
//
// Not a test: it prints, and exits 0. Needs a Redis (REDIS_URL, default redis://127.0.0.1:6379).
//
//   npm run bench:dpop
//   BENCH_DURATION=5 BENCH_ROUNDS=5 BENCH_CONNECTIONS=32 npm run bench:dpop
//
// Each app runs in its own child process and autocannon in this one. Proofs are signed before each
// round (every request needs its own), so signing does not compete with the server.
import 'reflect-metadata';
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID, createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { createKeyv } from '@keyv/redis';
import autocannon from 'autocannon';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT } from 'jose';
import { OidcClientCredentialsModule } from 'nest-oidc-client-credentials';
import { FakeIdService } from 'nest-oidc-client-credentials/testing';
import { OrdersController } from '../test/utils/orders.controller.js';

const DURATION = Number(process.env.BENCH_DURATION ?? 3);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
/** Proofs signed per DPoP round: more than the route can take in {@link DURATION} seconds. */
const PROOFS_PER_ROUND = Number(process.env.BENCH_PROOFS ?? 60_000);
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const AUDIENCE = 'urn:orders-api';
const CACHE_KEY = randomBytes(32).toString('base64');

type Platform = 'express' | 'fastify';
const PLATFORMS: readonly Platform[] = ['express', 'fastify'];

/** The child: the orders API with DPoP allowed and the replay check on the shared Redis. */
async function serve(platform: Platform, issuer: string, prefix: string): Promise<void> {
  @Module({
    imports: [
      OidcClientCredentialsModule.forRoot({
        issuer,
        allowInsecureHttp: true,
        verification: { strategy: 'jwt', audience: AUDIENCE, dpopProofMaxAgeSeconds: 600 },
        cache: {
          stores: [createKeyv(REDIS_URL)],
          keyPrefix: prefix,
          encryptionKey: CACHE_KEY,
          timeoutMs: 1000,
        },
      }),
    ],
    controllers: [OrdersController],
  })
  class BenchModule {}
  const app =
    platform === 'fastify'
      ? await NestFactory.create(BenchModule, new FastifyAdapter(), { logger: false })
      : await NestFactory.create(BenchModule, { logger: false });
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  process.send!({ port });
  process.on('message', () => {
    const { user, system } = process.cpuUsage();
    process.send!({ cpu: user + system });
  });
  process.on('disconnect', () => void app.close().then(() => process.exit(0)));
}

interface Round {
  requestsPerSecond: number;
  p99: number;
  non2xx: number;
  /** The app's CPU time per request, in µs: what a busy host distorts least. */
  cpuMicros: number;
}

type RunOptions = Parameters<typeof autocannon>[0];

/** The app process's CPU time so far, in µs. */
function cpuOf(child: ChildProcess): Promise<number> {
  return new Promise((resolve) => {
    child.once('message', (message: { cpu: number }) => resolve(message.cpu));
    child.send({ cpu: true });
  });
}

async function run(child: ChildProcess, options: RunOptions): Promise<Round> {
  const before = await cpuOf(child);
  const result = await autocannon({ ...options, connections: CONNECTIONS, duration: DURATION });
  const cpu = (await cpuOf(child)) - before;
  return {
    requestsPerSecond: result.requests.total / DURATION,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    cpuMicros: cpu / Math.max(1, result.requests.total),
  };
}

const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

async function main(): Promise<void> {
  const idp = await FakeIdService.start();
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = await exportJWK(publicKey);
  const jkt = await calculateJwkThumbprint(jwk);
  const bearer = await idp.mintJwt({ aud: AUDIENCE, sub: 'billing' });
  const bound = await idp.mintJwt({ aud: AUDIENCE, sub: 'billing', cnf: { jkt } });
  const ath = createHash('sha256').update(bound).digest('base64url');
  const children: ChildProcess[] = [];
  console.log(
    `DPoP vs bearer, ${ROUNDS} interleaved rounds of ${DURATION} s, ${CONNECTIONS} connections (medians)\n`,
  );
  try {
    for (const platform of PLATFORMS) {
      const child = fork(
        process.argv[1],
        ['--serve', platform, idp.issuer, `bench-dpop-${randomUUID()}`],
        {
          execArgv: process.execArgv,
        },
      );
      children.push(child);
      const port = await new Promise<number>((resolve, reject) => {
        child.once('message', (message: { port: number }) => resolve(message.port));
        child.once('exit', (code) => reject(new Error(`the ${platform} app exited (${code})`)));
      });
      const url = `http://127.0.0.1:${port}/orders`;
      const htu = url;
      // Warm the verification cache of both tokens.
      await run(child, { url, headers: { authorization: `Bearer ${bearer}` } });
      const bearerRounds: Round[] = [];
      const dpopRounds: Round[] = [];
      for (let round = 0; round < ROUNDS; round += 1) {
        bearerRounds.push(
          await run(child, { url, headers: { authorization: `Bearer ${bearer}` } }),
        );
        const iat = Math.floor(Date.now() / 1000);
        const proofs = await Promise.all(
          Array.from({ length: PROOFS_PER_ROUND }, () =>
            new SignJWT({ jti: randomUUID(), htm: 'GET', htu, iat, ath })
              .setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk })
              .sign(privateKey),
          ),
        );
        let next = 0;
        dpopRounds.push(
          await run(child, {
            url,
            headers: { authorization: `DPoP ${bound}` },
            requests: [
              {
                setupRequest: (request: Record<string, unknown>) => ({
                  ...request,
                  headers: {
                    ...(request.headers as Record<string, string>),
                    dpop: proofs[next++ % proofs.length],
                  },
                }),
              },
            ],
          }),
        );
        if (next > proofs.length)
          console.log(`  (round ${round + 1}: proofs reused, replays refused)`);
      }
      const bearerRps = median(bearerRounds.map((r) => r.requestsPerSecond));
      const dpopRps = median(dpopRounds.map((r) => r.requestsPerSecond));
      const refused = dpopRounds.reduce((sum, r) => sum + r.non2xx, 0);
      console.log(
        `${platform.padEnd(8)} bearer ${Math.round(bearerRps)} req/s (p99 ${median(bearerRounds.map((r) => r.p99))} ms)` +
          ` | DPoP ${Math.round(dpopRps)} req/s (p99 ${median(dpopRounds.map((r) => r.p99))} ms)` +
          ` = ${((dpopRps / bearerRps) * 100).toFixed(0)}% of bearer;` +
          ` app CPU per request ${median(bearerRounds.map((r) => r.cpuMicros)).toFixed(0)} µs bearer,` +
          ` ${median(dpopRounds.map((r) => r.cpuMicros)).toFixed(0)} µs DPoP` +
          (refused > 0 ? `, ${refused} non-2xx` : ''),
      );
      child.disconnect();
    }
  } finally {
    for (const child of children) if (child.connected) child.disconnect();
    await idp.close();
  }
}

const serveIndex = process.argv.indexOf('--serve');
if (serveIndex >= 0) {
  const [platform, issuer, prefix] = process.argv.slice(serveIndex + 1);
  await serve(platform as Platform, issuer, prefix);
} else {
  await main();
}
