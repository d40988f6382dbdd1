import { request as httpRequest, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { INestApplication, LoggerService, ModuleMetadata } from '@nestjs/common';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';

/** The HTTP platforms the library supports. */
export type HttpPlatform = 'express' | 'fastify';
export const HTTP_PLATFORMS: readonly HttpPlatform[] = ['express', 'fastify'];

/** Records every log line an app writes, to assert that no token or stack trace is logged. */
export class CapturingLogger implements LoggerService {
  readonly lines: { level: string; text: string }[] = [];

  log(...args: unknown[]): void {
    this.record('log', args);
  }
  error(...args: unknown[]): void {
    this.record('error', args);
  }
  warn(...args: unknown[]): void {
    this.record('warn', args);
  }
  debug(...args: unknown[]): void {
    this.record('debug', args);
  }
  verbose(...args: unknown[]): void {
    this.record('verbose', args);
  }
  fatal(...args: unknown[]): void {
    this.record('fatal', args);
  }

  /** Everything logged, as one string. */
  text(): string {
    return this.lines.map((l) => `${l.level} ${l.text}`).join('\n');
  }

  at(level: string): string[] {
    return this.lines.filter((l) => l.level === level).map((l) => l.text);
  }

  private record(level: string, args: unknown[]): void {
    const text = args
      .map((a) => (a instanceof Error ? `${a.name}: ${a.message}\n${a.stack}` : String(a)))
      .join(' ');
    this.lines.push({ level, text });
  }
}

/** A Nest app listening on 127.0.0.1 with an OS-chosen port. */
export interface RunningApp {
  app: INestApplication;
  /** e.g. `http://127.0.0.1:41234` */
  url: string;
  logger: CapturingLogger;
  close(): Promise<void>;
}

/**
 * Compiles `metadata` into an app on the given platform and starts it on loopback. Nest's
 * `Logger` is process-wide: apps that run side by side must share one `logger`.
 */
export async function startHttpApp(
  platform: HttpPlatform,
  metadata: ModuleMetadata,
  logger = new CapturingLogger(),
): Promise<RunningApp> {
  const moduleRef = await Test.createTestingModule(metadata).setLogger(logger).compile();
  const app =
    platform === 'fastify'
      ? moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter())
      : moduleRef.createNestApplication();
  app.useLogger(logger);
  await app.listen(0, '127.0.0.1');
  if (platform === 'fastify') {
    await (app as NestFastifyApplication).getHttpAdapter().getInstance().ready();
  }
  const { port } = app.getHttpServer().address() as AddressInfo;
  return { app, url: `http://127.0.0.1:${port}`, logger, close: () => app.close() };
}

/** A response read in full. */
export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * Sends a request with headers exactly as given, repeated names included (supertest merges them),
 * e.g. `[['Authorization', 'Bearer a'], ['Authorization', 'Bearer b']]`.
 */
export function rawRequest(
  url: string,
  options: { method?: string; path: string; headers?: [string, string][]; body?: string },
): Promise<RawResponse> {
  const headers = options.headers ?? [];
  // Raw header lists get no defaults from Node: Host and the body length are set here.
  const defaults: [string, string][] = [['Host', new URL(url).host]];
  if (options.body !== undefined) {
    defaults.push(['Content-Length', String(Buffer.byteLength(options.body))]);
  }
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      `${url}${options.path}`,
      { method: options.method ?? 'GET', headers: [...defaults, ...headers].flat() },
      readInFull(resolve, reject),
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** A response callback of `http.request` / `https.request` that settles with the whole response. */
export function readInFull(
  resolve: (response: RawResponse) => void,
  reject: (error: Error) => void,
): (res: IncomingMessage) => void {
  return (res) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () =>
      resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      }),
    );
    res.on('error', reject);
  };
}
