import type { AddressInfo } from 'node:net';
import { Logger, type INestApplication, type LoggerService, type LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { IdServiceEndpoints, type IssuedToken } from 'nest-oidc-client-credentials/testing';
import { IdServiceModule, type IdServiceModuleOptions } from './id-service.module.js';
import { RequestStats, type IdServiceStats } from './request-stats.service.js';

/** Options of {@link createIdService}. */
export interface CreateIdServiceOptions extends Omit<IdServiceModuleOptions, 'devApi'> {
  /** Port to listen on; `0` (default) lets the OS pick a free one. */
  port?: number;
  /** Interface to listen on. Default `'127.0.0.1'`. */
  host?: string;
  /** Mount the `/_dev` API. Default `true`. */
  devApi?: boolean;
  /** Nest logger setting. Default `['error', 'warn']` (the development warning is a warn). */
  logger?: false | LogLevel[] | LoggerService;
}

/** A running development ID service. */
export interface IdServiceHandle {
  /** Issuer identifier and base URL, e.g. `http://127.0.0.1:41234`. */
  readonly issuer: string;
  /** The Nest application. */
  readonly app: INestApplication;
  /** Calls per endpoint since start or the last `resetStats()`. */
  stats(): IdServiceStats;
  resetStats(): void;
  /** Issues a token without an HTTP call, as the token endpoint would. */
  issueToken(clientId: string, scopes?: string[]): Promise<IssuedToken>;
  /** New signing key; returns its kid. */
  rotateKey(): Promise<string>;
  /** Unpublishes a key and deactivates its tokens. */
  revokeKey(kid: string): Promise<boolean>;
  /** Makes a token inactive. */
  revokeToken(token: string): Promise<boolean>;
  /** Kid of the current signing key. */
  currentKid(): string;
  close(): Promise<void>;
}

/**
 * Starts the development ID service, standalone or inside a test.
 *
 * @example
 * const idService = await createIdService({ clients: { app: { secret: 's3cret' } } });
 * // … OidcClientCredentialsModule.forRoot({ issuer: idService.issuer, … })
 * await idService.close();
 */
export async function createIdService(options: CreateIdServiceOptions): Promise<IdServiceHandle> {
  const { port = 0, host = '127.0.0.1', devApi = true, logger = ['error', 'warn'] } = options;
  const app = await NestFactory.create(IdServiceModule.register({ ...options, devApi }), {
    logger,
    forceCloseConnections: true,
    // The endpoints read the form body as sent, to refuse a repeated parameter.
    rawBody: true,
  });
  await app.listen(port, host);
  const address = app.getHttpServer().address() as AddressInfo;
  const { context, keys, tokens } = app.get(IdServiceEndpoints);
  context.setIssuerIfUnset(`http://${hostForUrl(host)}:${address.port}`);
  logDevelopmentWarning(context.issuer, devApi);

  const stats = app.get(RequestStats);
  return {
    issuer: context.issuer,
    app,
    stats: () => stats.snapshot(),
    resetStats: () => stats.reset(),
    issueToken: (clientId, scopes = []) => tokens.issue(clientId, scopes),
    rotateKey: () => keys.rotate(),
    revokeKey: (kid) => keys.revoke(kid),
    revokeToken: (token) => tokens.revokeKnown(token),
    currentKid: () => keys.current.kid,
    close: () => app.close(),
  };
}

function hostForUrl(host: string): string {
  if (host === '0.0.0.0' || host === '::') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}

function logDevelopmentWarning(issuer: string, devApi: boolean): void {
  const lines = [
    'DEVELOPMENT ID SERVICE - NOT FOR PRODUCTION.',
    'Clients and secrets come from a development file and keys live in memory:',
    'it exists to try nest-oidc-client-credentials and to test against it.',
    `Issuer ${issuer}${devApi ? ' (dev API on /_dev)' : ''}`,
  ];
  const width = Math.max(...lines.map((line) => line.length));
  const border = '*'.repeat(width + 6);
  const boxed = lines.map((line) => `*  ${line.padEnd(width)}  *`);
  new Logger('IdService').warn(['', border, ...boxed, border].join('\n'));
}
