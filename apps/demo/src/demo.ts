import type { INestApplication, LoggerService, LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NextFunction, Request, Response } from 'express';
import { DemoApiModule } from '../../demo-api/src/demo-api.module.js';
import type { DemoStrategy } from '../../demo-api/src/demo-routes.controller.js';
import { DemoApiClient } from '../../demo-client/src/demo-api.client.js';
import { DemoClientModule } from '../../demo-client/src/demo-client.module.js';
import { DEFAULT_CLIENTS_FILE, loadClientsFile } from '../../id-service/src/id-service.config.js';
import { createIdService, type IdServiceHandle } from '../../id-service/src/id-service.js';
import type { IdServiceStats } from '../../id-service/src/request-stats.service.js';
import { paint, type FormatOptions } from './output.js';

/** A client of the demo with the credentials it runs with. */
export interface DemoClientSpec {
  clientId: string;
  clientSecret: string;
  /** What is special about it, for the report. */
  description: string;
}

/** A client id and its secret. */
export interface DemoCredentials {
  clientId: string;
  clientSecret: string;
}

/** demo-api's client, and the `aud` it requires of its callers' tokens (none: any). */
export interface DemoApiCredentials extends DemoCredentials {
  audience?: string;
}

/** A demo-api and a demo client started for one purpose (the trace), closed after it. */
export interface DemoPair {
  api: INestApplication;
  apiUrl: string;
  client: INestApplication;
  clientId: string;
  close(): Promise<void>;
}

/** The three apps, running. */
export interface DemoStack {
  /** The development ID service; absent when the demo runs against a real one. */
  idService?: IdServiceHandle;
  issuer: string;
  demoApiUrl: string;
  /** Requests the demo API has received. */
  demoApiRequests(): number;
  clients: (DemoClientSpec & { app: INestApplication; url: string })[];
  /**
   * Starts one more demo-api and demo client (as the first client) on free ports against the same ID
   * service, so their caches are empty; `onApiRequest` sees every request that demo-api receives.
   */
  startPair(onApiRequest?: (request: Request) => void): Promise<DemoPair>;
  close(): Promise<void>;
}

/** One expectation: this client calling this route gets this status. */
export interface DemoCheck {
  clientId: string;
  strategy: DemoStrategy;
  route: 'whoami' | 'orders';
  /** Expected status; `undefined` against a real ID service, where any non-5xx answer passes. */
  expected?: number;
  /** Why, when the answer is not a plain 200. */
  note?: string;
}

/** A check as it ran. */
export interface DemoCheckResult extends DemoCheck {
  statuses: number[];
  ok: boolean;
  ms: number;
  /** Requests the demo API received (a refused token is renewed and the call retried once). */
  apiRequests: number;
  /** ID service calls during the check, when the ID service is the development one. */
  idServiceCalls?: IdServiceStats;
}

/** Everything the report shows. */
export interface DemoReport {
  issuer: string;
  demoApiUrl: string;
  developmentIdService: boolean;
  callsPerCheck: number;
  results: DemoCheckResult[];
  ok: boolean;
}

/** Options of {@link startDemo}. */
export interface StartDemoOptions {
  /** Environment (default `process.env`); `OIDC_ISSUER` points the demo at a real ID service. */
  env?: Record<string, string | undefined>;
  /** Ports; `0` (default) picks free ones. */
  ports?: { idService?: number; demoApi?: number; demoClient?: number };
  logger?: false | LogLevel[] | LoggerService;
}

const DEV_CLIENTS: DemoClientSpec[] = [
  {
    clientId: 'demo-client',
    clientSecret: 'demo-client-secret',
    description: 'JWT tokens, scope orders:read',
  },
  {
    clientId: 'demo-client-opaque',
    clientSecret: 'demo-client-opaque-secret',
    description: 'opaque tokens, no scope',
  },
];
/** demo-api's own client, and the audience its callers' tokens must name (clients.dev.json). */
const DEV_API_CLIENT: DemoApiCredentials = {
  clientId: 'demo-api',
  clientSecret: 'demo-api-secret',
  audience: 'demo-api',
};

/** What the demo checks against the development ID service (clients from clients.dev.json). */
export const DEV_CHECKS: readonly DemoCheck[] = [
  { clientId: 'demo-client', strategy: 'jwt', route: 'whoami', expected: 200 },
  { clientId: 'demo-client', strategy: 'introspection', route: 'whoami', expected: 200 },
  { clientId: 'demo-client', strategy: 'userinfo', route: 'whoami', expected: 200 },
  { clientId: 'demo-client', strategy: 'jwt', route: 'orders', expected: 200 },
  { clientId: 'demo-client-opaque', strategy: 'introspection', route: 'whoami', expected: 200 },
  { clientId: 'demo-client-opaque', strategy: 'userinfo', route: 'whoami', expected: 200 },
  {
    clientId: 'demo-client-opaque',
    strategy: 'introspection',
    route: 'orders',
    expected: 403,
    note: 'the token lacks orders:read',
  },
  {
    clientId: 'demo-client-opaque',
    strategy: 'jwt',
    route: 'whoami',
    expected: 401,
    note: 'an opaque token cannot be checked locally; the client renews and retries once',
  },
];

/**
 * Starts the ID service (unless `OIDC_ISSUER` names a real one), the demo API and one demo client
 * per client, all on loopback. The apps get their settings as environment variables, exactly as
 * their own `main.ts` would from `process.env`.
 */
export async function startDemo(options: StartDemoOptions = {}): Promise<DemoStack> {
  const env = options.env ?? process.env;
  const logger = options.logger ?? ['error', 'warn'];
  const ports = options.ports ?? {};
  const started: { close(): Promise<void> }[] = [];
  const closeAll = async () => {
    for (const app of started.reverse()) await app.close();
  };
  try {
    let idService: IdServiceHandle | undefined;
    let issuer = env.OIDC_ISSUER ?? env.ID_SERVICE_URL;
    let clients = DEV_CLIENTS;
    let apiClient = DEV_API_CLIENT;
    if (issuer === undefined) {
      idService = await createIdService({
        clients: loadClientsFile(env.ID_SERVICE_CLIENTS_FILE ?? DEFAULT_CLIENTS_FILE),
        port: ports.idService ?? 0,
        logger,
      });
      started.push(idService);
      issuer = idService.issuer;
    } else {
      clients = [
        {
          clientId: required(env, 'CLIENT_ID'),
          clientSecret: required(env, 'CLIENT_SECRET'),
          description: 'from CLIENT_ID',
        },
      ];
      apiClient = {
        clientId: required(env, 'API_CLIENT_ID'),
        clientSecret: required(env, 'API_CLIENT_SECRET'),
        audience: env.API_AUDIENCE,
      };
    }

    let apiRequests = 0;
    const demoApi = await startDemoApi(issuer, apiClient, {
      logger,
      port: ports.demoApi ?? 0,
      onRequest: () => {
        apiRequests += 1;
      },
    });
    started.push(demoApi);
    const demoApiUrl = await appUrl(demoApi);

    const running: DemoStack['clients'] = [];
    for (const [index, client] of clients.entries()) {
      const app = await startDemoClient(issuer, client, demoApiUrl, env, {
        logger,
        port: ports.demoClient ? ports.demoClient + index : 0,
      });
      started.push(app);
      running.push({ ...client, app, url: await appUrl(app) });
    }
    const startPair = async (onApiRequest?: (request: Request) => void): Promise<DemoPair> => {
      const api = await startDemoApi(issuer, apiClient, {
        logger,
        port: 0,
        onRequest: onApiRequest,
      });
      try {
        const apiUrl = await appUrl(api);
        const client = await startDemoClient(issuer, clients[0], apiUrl, env, { logger, port: 0 });
        return {
          api,
          apiUrl,
          client,
          clientId: clients[0].clientId,
          close: async () => {
            await client.close();
            await api.close();
          },
        };
      } catch (error) {
        await api.close();
        throw error;
      }
    };
    return {
      idService,
      issuer,
      demoApiUrl,
      demoApiRequests: () => apiRequests,
      clients: running,
      startPair,
      close: closeAll,
    };
  } catch (error) {
    await closeAll();
    throw error;
  }
}

interface StartAppOptions {
  logger: false | LogLevel[] | LoggerService;
  port: number;
}

/** demo-api (the 3rd party service) with its settings as environment variables, listening. */
async function startDemoApi(
  issuer: string,
  apiClient: DemoApiCredentials,
  { logger, port, onRequest }: StartAppOptions & { onRequest?: (request: Request) => void },
): Promise<INestApplication> {
  const app = await NestFactory.create(
    DemoApiModule.register({
      OIDC_ISSUER: issuer,
      CLIENT_ID: apiClient.clientId,
      CLIENT_SECRET: apiClient.clientSecret,
      API_AUDIENCE: apiClient.audience,
    }),
    { logger, forceCloseConnections: true },
  );
  if (onRequest) {
    app.use((request: Request, _res: Response, next: NextFunction) => {
      onRequest(request);
      next();
    });
  }
  await app.listen(port, '127.0.0.1');
  return app;
}

/** A demo client (the application) with its settings as environment variables, listening. */
async function startDemoClient(
  issuer: string,
  client: DemoCredentials,
  demoApiUrl: string,
  env: Record<string, string | undefined>,
  { logger, port }: StartAppOptions,
): Promise<INestApplication> {
  const app = await NestFactory.create(
    DemoClientModule.register({
      OIDC_ISSUER: issuer,
      CLIENT_ID: client.clientId,
      CLIENT_SECRET: client.clientSecret,
      CLIENT_SCOPE: env.CLIENT_SCOPE,
      CLIENT_AUTH_METHOD: env.CLIENT_AUTH_METHOD,
      DEMO_API_URL: demoApiUrl,
    }),
    { logger, forceCloseConnections: true },
  );
  await app.listen(port, '127.0.0.1');
  return app;
}

/**
 * Runs every check `callsPerCheck` times, one call after another, and records what the ID service
 * saw meanwhile. Against a real ID service each client calls every route once per strategy.
 */
export async function runDemo(stack: DemoStack, callsPerCheck = 5): Promise<DemoReport> {
  const checks: readonly DemoCheck[] = stack.idService
    ? DEV_CHECKS
    : stack.clients.flatMap(({ clientId }) =>
        (['jwt', 'introspection', 'userinfo'] as const).flatMap((strategy) =>
          // A userinfo answer carries no scope: the demo API has no orders route under it.
          (strategy === 'userinfo' ? (['whoami'] as const) : (['whoami', 'orders'] as const)).map(
            (route) => ({ clientId, strategy, route }),
          ),
        ),
      );
  const results: DemoCheckResult[] = [];
  for (const check of checks) {
    const client = stack.clients.find((c) => c.clientId === check.clientId);
    if (!client) throw new Error(`no demo client ${check.clientId}`);
    const demoApi = client.app.get(DemoApiClient);
    const statsBefore = stack.idService?.stats();
    const requestsBefore = stack.demoApiRequests();
    const statuses: number[] = [];
    const started = performance.now();
    for (let i = 0; i < callsPerCheck; i += 1) {
      statuses.push(
        await demoApi.call(check.strategy, check.route).then(
          (a) => a.status,
          () => 0,
        ),
      );
    }
    const ms = performance.now() - started;
    const ok = statuses.every((status) =>
      check.expected === undefined ? status > 0 && status < 500 : status === check.expected,
    );
    results.push({
      ...check,
      statuses,
      ok,
      ms,
      apiRequests: stack.demoApiRequests() - requestsBefore,
      idServiceCalls: statsBefore && difference(stack.idService!.stats(), statsBefore),
    });
  }
  return {
    issuer: stack.issuer,
    demoApiUrl: stack.demoApiUrl,
    developmentIdService: stack.idService !== undefined,
    callsPerCheck,
    results,
    ok: results.every((r) => r.ok),
  };
}

/** The short, readable report `npm start` prints. */
export function formatReport(report: DemoReport, { color }: FormatOptions = {}): string {
  const lines = [
    paint('nest-oidc-client-credentials demo', 'bold', color),
    `  ID service  ${report.issuer}${report.developmentIdService ? '  (development ID service)' : ''}`,
    `  demo-api    ${report.demoApiUrl}`,
    `  each check: ${report.callsPerCheck} calls from the client, one after another`,
    '',
  ];
  const rows = [
    ['client', 'strategy', 'route', 'status', 'result', 'API requests', 'ID service calls'],
    ...report.results.map((r) => [
      r.clientId,
      r.strategy,
      `GET /${r.strategy}/${r.route}`,
      summarizeStatuses(r.statuses),
      r.ok ? 'ok' : `FAIL (expected ${r.expected ?? '< 500'})`,
      String(r.apiRequests),
      r.idServiceCalls ? describeCalls(r.idServiceCalls) : 'n/a',
    ]),
  ];
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)));
  const resultColumn = 4;
  for (const [index, row] of rows.entries()) {
    const cells = row.map((cell, column) => {
      const padded = column === row.length - 1 ? cell : cell.padEnd(widths[column]);
      if (index === 0) return paint(padded, 'bold', color);
      if (column !== resultColumn) return padded;
      return paint(padded, report.results[index - 1].ok ? 'green' : 'red', color);
    });
    lines.push(`  ${cells.join('  ')}`);
  }
  const notes = report.results.filter((r) => r.note);
  if (notes.length > 0) {
    lines.push('');
    for (const r of notes)
      lines.push(`  ${r.clientId} ${r.strategy}/${r.route} → ${r.expected}: ${r.note}`);
  }
  lines.push('');
  if (report.developmentIdService) {
    const apiRequests = sum(report.results.map((r) => r.apiRequests));
    const calls = report.results.map((r) => r.idServiceCalls!);
    const made = sum(calls.map((c) => c.token + c.introspection + c.userinfo + c.jwks));
    const discovery = sum(calls.map((c) => c.discovery));
    // Without caches every API request costs a token request and, at the API, one check
    // (a JWKS download, an introspection or a userinfo call).
    const uncached = 2 * apiRequests;
    lines.push(
      `  ${apiRequests} requests reached demo-api. Without caches they would have cost ${uncached} ID service calls`,
      `  (a token and a check each); the ID service saw ${made} (+${discovery} discovery, once per module):`,
      `  the caches saved ${uncached - made} calls (${Math.round((100 * (uncached - made)) / uncached)}%).`,
    );
  }
  const failed = report.results.filter((r) => !r.ok).length;
  lines.push(
    failed === 0
      ? paint(`  All ${report.results.length} checks passed.`, 'green', color)
      : paint(`  ${failed} of ${report.results.length} checks FAILED.`, 'red', color),
  );
  return lines.join('\n');
}

function summarizeStatuses(statuses: number[]): string {
  const counts = new Map<number, number>();
  for (const status of statuses) counts.set(status, (counts.get(status) ?? 0) + 1);
  return [...counts]
    .map(([status, count]) => `${status === 0 ? 'error' : status} ×${count}`)
    .join(', ');
}

function describeCalls(calls: IdServiceStats): string {
  const parts = (['token', 'jwks', 'introspection', 'userinfo', 'discovery'] as const)
    .filter((endpoint) => calls[endpoint] > 0)
    .map((endpoint) => `${endpoint} ${calls[endpoint]}`);
  return parts.length > 0 ? parts.join(', ') : 'none';
}

function difference(after: IdServiceStats, before: IdServiceStats): IdServiceStats {
  const result = { ...after };
  for (const key of Object.keys(result) as (keyof IdServiceStats)[]) result[key] -= before[key];
  return result;
}

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

function required(env: Record<string, string | undefined>, name: string): string {
  const value = env[name];
  if (!value) throw new Error(`${name} is required when OIDC_ISSUER names an ID service`);
  return value;
}

async function appUrl(app: INestApplication): Promise<string> {
  return (await app.getUrl()).replace('[::1]', '127.0.0.1');
}
