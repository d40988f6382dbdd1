// Cost of a cached TokenProvider.getToken(), next to a bare `await Promise.resolve()` measured in the
// same run (issue 2: target ≥ 1,000,000 calls/s on one core). Not a test: it prints, and exits 0.
//
//   npm run bench:token            (node --import ./benchmarks/register-ts.mjs …)
//   BENCH_CALLS=2000000 npm run bench:token
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { OidcClientCredentialsModule, TokenProvider } from 'nest-oidc-client-credentials';
import { FakeIdService } from 'nest-oidc-client-credentials/testing';

const CALLS = Number(process.env.BENCH_CALLS ?? 1_000_000);
const ROUNDS = 5;
const TARGET = 1_000_000;

/** Calls per second of `fn` awaited `calls` times in a row. */
async function callsPerSecond(fn: () => Promise<unknown>, calls: number): Promise<number> {
  const start = process.hrtime.bigint();
  for (let i = 0; i < calls; i += 1) await fn();
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return calls / seconds;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1];
const format = (n: number) => Math.round(n).toLocaleString('en-US').padStart(13);

async function main(): Promise<void> {
  const idp = await FakeIdService.start({ clients: { bench: { secret: 'bench-secret' } } });
  const app = await NestFactory.createApplicationContext(
    OidcClientCredentialsModule.forRoot({
      issuer: idp.issuer,
      clientId: 'bench',
      clientSecret: 'bench-secret',
    }),
    { logger: false },
  );
  try {
    const tokens = app.get(TokenProvider);
    await tokens.getToken();
    const baseline = () => Promise.resolve('token');
    const cached = () => tokens.getToken();

    // Warm-up lets the JIT settle both paths before anything is measured.
    await callsPerSecond(baseline, CALLS / 5);
    await callsPerSecond(cached, CALLS / 5);

    const results = { baseline: [] as number[], cached: [] as number[] };
    for (let round = 0; round < ROUNDS; round += 1) {
      results.baseline.push(await callsPerSecond(baseline, CALLS));
      results.cached.push(await callsPerSecond(cached, CALLS));
    }
    const base = median(results.baseline);
    const hit = median(results.cached);
    const tokenRequests = idp.requestsTo('/openid/token').length;

    console.log(
      `TokenProvider.getToken() cached, ${ROUNDS} rounds × ${CALLS.toLocaleString('en-US')} awaited calls (median)`,
    );
    console.log(`  node ${process.version}, ${process.arch}`);
    console.log(
      `  await Promise.resolve()  ${format(base)} calls/s  ${(1e9 / base).toFixed(1).padStart(6)} ns/call`,
    );
    console.log(
      `  await getToken()         ${format(hit)} calls/s  ${(1e9 / hit).toFixed(1).padStart(6)} ns/call`,
    );
    console.log(`  getToken / baseline      ${(hit / base).toFixed(2)}×`);
    console.log(`  token requests made      ${tokenRequests}`);
    console.log(
      `  target ≥ ${TARGET.toLocaleString('en-US')} calls/s: ${hit >= TARGET ? 'met' : 'NOT met'}`,
    );
  } finally {
    await app.close();
    await idp.close();
  }
}

await main();
