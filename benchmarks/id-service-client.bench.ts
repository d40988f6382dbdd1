// CPU per new token of a cold introspection — the introspection strategy verifying a token it has
// not seen, so one POST to the ID service each — with the ID-service client the library had
// before (the global fetch: web streams, a second Response; still what `http.fetch` runs) next to
// the keep-alive undici client it uses by default now, in one run: process.cpuUsage() per call,
// interleaved rounds, medians. Not a test: it prints, and exits 0.
//
//   npm run bench:id-service
//   BENCH_CALLS=4000 BENCH_ROUNDS=7 npm run bench:id-service
//
// The ID service runs in a child process, so its CPU is not counted: what is measured is the CPU
// the calling server spends per new token (the strategy's own checks and cache included).
import 'reflect-metadata';
import { fork, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { NestFactory } from '@nestjs/core';
import {
  OidcClientCredentialsModule,
  TokenVerificationStrategy,
  type OidcClientCredentialsModuleOptions,
} from 'nest-oidc-client-credentials';

const CALLS = Number(process.env.BENCH_CALLS ?? 2000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 8);
const TARGET = 1 / 3;

const INTROSPECTION_ANSWER = JSON.stringify({
  active: true,
  client_id: 'orders',
  sub: 'orders',
  scope: 'orders:read orders:write',
  aud: 'urn:orders-api',
  iss: 'http://127.0.0.1',
  exp: Math.floor(Date.now() / 1000) + 3600,
  iat: Math.floor(Date.now() / 1000),
  token_type: 'Bearer',
});

// ---------------------------------------------------------------------------------------------
// The ID service (child process): answers every POST with one introspection answer.
// ---------------------------------------------------------------------------------------------

function serveIntrospection(): void {
  const server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      response.writeHead(200, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(INTROSPECTION_ANSWER),
      });
      response.end(INTROSPECTION_ANSWER);
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => {
    process.send?.({ port: (server.address() as AddressInfo).port });
  });
  process.on('disconnect', () => process.exit(0));
}

// ---------------------------------------------------------------------------------------------
// The servers compared: one Nest application context each, the same options but the transport.
// ---------------------------------------------------------------------------------------------

type Call = () => Promise<unknown>;

async function introspectingApp(
  url: string,
  http: OidcClientCredentialsModuleOptions['http'],
): Promise<{ call: Call; close: () => Promise<void> }> {
  const app = await NestFactory.createApplicationContext(
    OidcClientCredentialsModule.forRoot({
      issuer: 'http://127.0.0.1',
      endpoints: { introspection: url },
      clientId: 'orders',
      clientSecret: 'secret',
      verification: { strategy: 'introspection', warnOnMissingAudience: false },
      http,
    }),
    { logger: false },
  );
  const strategy = app.get(TokenVerificationStrategy);
  let n = 0;
  // A token never seen before: a cache miss, so one introspection request.
  const call = () => strategy.verify(`opaque-${process.pid}-${(n += 1)}-token`);
  return { call, close: () => app.close() };
}

/** Microseconds of CPU (user + system) per call, `calls` calls with `CONCURRENCY` in flight. */
async function cpuPerCall(call: Call, calls: number): Promise<number> {
  const per = Math.ceil(calls / CONCURRENCY);
  const start = process.cpuUsage();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      for (let i = 0; i < per; i += 1) await call();
    }),
  );
  const used = process.cpuUsage(start);
  return (used.user + used.system) / (per * CONCURRENCY);
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1];

async function main(): Promise<void> {
  const child: ChildProcess = fork(new URL(import.meta.url), ['--serve'], {
    execArgv: process.execArgv,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const port = await new Promise<number>((resolve) =>
    child.once('message', (message) => resolve((message as { port: number }).port)),
  );
  const url = `http://127.0.0.1:${port}/introspect`;
  // Before: the global fetch (what every ID-service call used, and what http.fetch still runs).
  const before = await introspectingApp(url, { fetch });
  // Now: the default transport, undici.request on a keep-alive Agent.
  const now = await introspectingApp(url, {});
  try {
    await cpuPerCall(before.call, CALLS / 2);
    await cpuPerCall(now.call, CALLS / 2);
    const results = { before: [] as number[], now: [] as number[] };
    for (let round = 0; round < ROUNDS; round += 1) {
      results.before.push(await cpuPerCall(before.call, CALLS));
      results.now.push(await cpuPerCall(now.call, CALLS));
    }
    const b = median(results.before);
    const n = median(results.now);
    const ratio = n / b;
    console.log(
      `Cold introspection (the introspection strategy, a new token each call), ${ROUNDS} interleaved rounds × ${CALLS} calls, ${CONCURRENCY} in flight; server CPU per new token (process.cpuUsage), medians`,
    );
    console.log(`  node ${process.version}, ${process.arch}; the ID service in another process`);
    console.log(
      `    global fetch (before; http.fetch)     ${b.toFixed(1).padStart(7)} µs CPU/token`,
    );
    console.log(
      `    undici.request, keep-alive (now)      ${n.toFixed(1).padStart(7)} µs CPU/token`,
    );
    console.log(
      `    now / before                          ${ratio.toFixed(2).padStart(7)}×  (target ≤ ${TARGET.toFixed(2)}×: ${ratio <= TARGET ? 'met' : 'not met'})`,
    );
  } finally {
    await before.close();
    await now.close();
    child.disconnect();
  }
  process.exit(0);
}

if (process.argv.includes('--serve')) {
  serveIntrospection();
} else {
  void main();
}
