// CPU per call of the HTTP client the library uses for the ID service: the `fetch`-based client it had
// before (global fetch, web streams, a second Response, AbortSignal.timeout) next to the keep-alive
// undici client it uses now, each measured with process.cpuUsage() in interleaved rounds (medians),
// in one run. Two paths: the HTTP client alone (one POST, body read), and a cold introspection as
// the introspection strategy makes it (oauth4webapi's request and response checks over the client).
// Not a test: it prints, and exits 0.
//
//   npm run bench:id-service
//   BENCH_CALLS=4000 BENCH_ROUNDS=7 npm run bench:id-service
//
// The ID service runs in a child process, so its CPU is not counted: what is measured is the CPU
// the calling server spends per new token.
import { fork, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as oauth from 'oauth4webapi';
import {
  createSafeFetch,
  type SafeFetch,
} from '../libs/oidc-client-credentials/src/idp/safe-fetch.util.js';

const CALLS = Number(process.env.BENCH_CALLS ?? 2000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 8);
const LIMITS = { timeoutMs: 5000, maxResponseBytes: 65_536 };
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
// The clients compared.
// ---------------------------------------------------------------------------------------------

/** The client before: the global fetch, its body read as a web stream, a second Response. */
function fetchBasedClient(limits: typeof LIMITS): SafeFetch {
  return async function safeFetch(url: string | URL, init: RequestInit = {}): Promise<Response> {
    const timeout = AbortSignal.timeout(limits.timeoutMs);
    const signal = init.signal ? AbortSignal.any([init.signal, timeout]) : timeout;
    const response = await fetch(url, { ...init, redirect: 'manual', signal });
    const declared = Number(response.headers.get('content-length'));
    if (Number.isFinite(declared) && declared > limits.maxResponseBytes) {
      await response.body?.cancel();
      throw new Error('too large');
    }
    const chunks: Uint8Array[] = [];
    let size = 0;
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      size += chunk.byteLength;
      chunks.push(chunk);
    }
    const body = new Uint8Array(size);
    let offset = 0;
    for (const chunk of chunks) {
      body.set(chunk, offset);
      offset += chunk.byteLength;
    }
    return new Response(body, {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  };
}

type Call = () => Promise<unknown>;

function httpOnly(client: SafeFetch, url: string): Call {
  const body = 'token=opaque-token-value&token_type_hint=access_token';
  return async () => {
    const response = await client(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded;charset=UTF-8',
        authorization: 'Basic b3JkZXJzOnNlY3JldA==',
      },
      body,
    });
    return response.json();
  };
}

function introspection(client: SafeFetch, url: string): Call {
  const as: oauth.AuthorizationServer = { issuer: 'http://127.0.0.1', introspection_endpoint: url };
  const client_: oauth.Client = { client_id: 'orders' };
  const authenticate = oauth.ClientSecretBasic('secret');
  const options = { [oauth.customFetch]: client, [oauth.allowInsecureRequests]: true };
  let n = 0;
  return async () => {
    n += 1;
    const response = await oauth.introspectionRequest(as, client_, authenticate, `token-${n}`, {
      additionalParameters: { token_type_hint: 'access_token' },
      ...options,
    });
    return oauth.processIntrospectionResponse(as, client_, response);
  };
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
  const before = fetchBasedClient(LIMITS);
  const now = createSafeFetch(LIMITS);
  const paths = [
    {
      label: 'HTTP client alone (POST, JSON body)',
      before: httpOnly(before, url),
      now: httpOnly(now, url),
    },
    {
      label: 'cold introspection (oauth4webapi + client)',
      before: introspection(before, url),
      now: introspection(now, url),
    },
  ];
  try {
    for (const path of paths) {
      await cpuPerCall(path.before, CALLS / 2);
      await cpuPerCall(path.now, CALLS / 2);
    }
    console.log(
      `ID-service HTTP client, CPU per call (process.cpuUsage), ${ROUNDS} interleaved rounds × ${CALLS} calls, ${CONCURRENCY} in flight, medians`,
    );
    console.log(`  node ${process.version}, ${process.arch}; the ID service in another process`);
    for (const path of paths) {
      const results = { before: [] as number[], now: [] as number[] };
      for (let round = 0; round < ROUNDS; round += 1) {
        results.before.push(await cpuPerCall(path.before, CALLS));
        results.now.push(await cpuPerCall(path.now, CALLS));
      }
      const b = median(results.before);
      const n = median(results.now);
      const ratio = n / b;
      console.log(`  ${path.label}`);
      console.log(`    fetch-based (before)     ${b.toFixed(1).padStart(7)} µs CPU/call`);
      console.log(`    undici.request (now)     ${n.toFixed(1).padStart(7)} µs CPU/call`);
      console.log(
        `    now / before             ${ratio.toFixed(2).padStart(7)}×  (target ≤ ${TARGET.toFixed(2)}×: ${ratio <= TARGET ? 'met' : 'not met'})`,
      );
    }
  } finally {
    child.disconnect();
  }
  process.exit(0);
}

if (process.argv.includes('--serve')) {
  serveIntrospection();
} else {
  void main();
}
