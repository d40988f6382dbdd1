import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { ModuleMetadata } from '@nestjs/common';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import {
  type OidcClientCredentialsModuleOptions,
  type VerificationOptions,
} from 'nest-oidc-client-credentials';
import {
  CapturingLogger,
  readInFull,
  type HttpPlatform,
  type RawResponse,
  type RunningApp,
} from '../utils/nest-http-app.js';
import { ordersApiModule } from '../utils/orders-api.module.js';

export { API_CLIENT, AUDIENCE } from '../utils/orders-api.module.js';

/** The orders API checking JWTs (unless `verification` says otherwise) with the given options. */
export function senderConstrainedAppModule(
  issuer: string,
  verification: VerificationOptions,
  options: Partial<OidcClientCredentialsModuleOptions> = {},
): ModuleMetadata {
  return ordersApiModule(issuer, { strategy: 'jwt', ...verification }, options);
}

/** TLS options of an https app that asks every client for a certificate. */
export interface HttpsAppOptions {
  key: string;
  cert: string;
  ca: string;
}

/**
 * Like `startHttpApp`, over https with `requestCert` (any client certificate is let through TLS:
 * the guard checks it against the token).
 */
export async function startHttpsApp(
  platform: HttpPlatform,
  metadata: ModuleMetadata,
  tls: HttpsAppOptions,
  logger = new CapturingLogger(),
): Promise<RunningApp> {
  const httpsOptions = { ...tls, requestCert: true, rejectUnauthorized: false };
  const moduleRef = await Test.createTestingModule(metadata).setLogger(logger).compile();
  const app =
    platform === 'fastify'
      ? moduleRef.createNestApplication<NestFastifyApplication>(
          new FastifyAdapter({ https: httpsOptions }),
        )
      : moduleRef.createNestApplication({ httpsOptions });
  app.useLogger(logger);
  await app.listen(0, '127.0.0.1');
  if (platform === 'fastify') {
    await (app as NestFastifyApplication).getHttpAdapter().getInstance().ready();
  }
  const { port } = app.getHttpServer().address() as AddressInfo;
  return { app, url: `https://127.0.0.1:${port}`, logger, close: () => app.close() };
}

/** An https request with raw headers, presenting `client` as the TLS client certificate if given. */
export function rawHttpsRequest(
  url: string,
  options: {
    path: string;
    headers?: [string, string][];
    ca: string;
    client?: { cert: string; key: string };
  },
): Promise<RawResponse> {
  const headers: [string, string][] = [['Host', new URL(url).host], ...(options.headers ?? [])];
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      `${url}${options.path}`,
      {
        method: 'GET',
        headers: headers.flat(),
        ca: options.ca,
        cert: options.client?.cert,
        key: options.client?.key,
        agent: false,
      },
      readInFull(resolve, reject),
    );
    req.on('error', reject);
    req.end();
  });
}
