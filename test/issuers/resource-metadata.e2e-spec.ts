import type { AddressInfo } from 'node:net';
import { Controller, Get, UseGuards, type INestApplication } from '@nestjs/common';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import {
  ClientId,
  ClientTokenGuard,
  OidcClientCredentialsModule,
  Public,
  RequireScopes,
  type OidcClientCredentialsModuleOptions,
} from 'nest-oidc-client-credentials';
import { FakeIdService } from 'nest-oidc-client-credentials/testing';
import * as oauth from 'oauth4webapi';
import {
  CapturingLogger,
  HTTP_PLATFORMS,
  rawRequest,
  type HttpPlatform,
} from '../utils/nest-http-app.js';
import { freePort } from '../utils/ports.js';

const AUDIENCE = 'urn:orders-api';

@Controller('orders')
@UseGuards(ClientTokenGuard)
class OrdersApi {
  @Get()
  @RequireScopes('orders:read')
  list(@ClientId() clientId: string) {
    return { clientId };
  }

  @Get('write')
  @RequireScopes.any('orders:write', 'orders:admin')
  write(@ClientId() clientId: string) {
    return { clientId };
  }

  @Get('open')
  @Public()
  open() {
    return { open: true };
  }
}

interface App {
  app: INestApplication;
  url: string;
  resource: string;
}

/** The app on a port known before it starts, so that `resource` can be its own URL. */
async function startApp(
  platform: HttpPlatform,
  options: (resource: string) => OidcClientCredentialsModuleOptions,
  logger: CapturingLogger,
): Promise<App> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const resource = `${url}/orders`;
  const moduleRef = await Test.createTestingModule({
    imports: [OidcClientCredentialsModule.forRoot(options(resource))],
    controllers: [OrdersApi],
  })
    .setLogger(logger)
    .compile();
  const app =
    platform === 'fastify'
      ? moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter())
      : moduleRef.createNestApplication();
  app.useLogger(logger);
  // A global prefix does not move the well-known URL.
  app.setGlobalPrefix('api');
  await app.listen(port, '127.0.0.1');
  if (platform === 'fastify') {
    await (app as NestFastifyApplication).getHttpAdapter().getInstance().ready();
  }
  expect((app.getHttpServer().address() as AddressInfo).port).toBe(port);
  return { app, url, resource };
}

describe.each(HTTP_PLATFORMS)('RFC 9728 protected resource metadata (%s)', (platform) => {
  let idA: FakeIdService;
  let idB: FakeIdService;
  let running: App;
  const logger = new CapturingLogger();
  let metadataUrl: string;

  beforeAll(async () => {
    [idA, idB] = await Promise.all([FakeIdService.start(), FakeIdService.start()]);
    running = await startApp(
      platform,
      (resource) => ({
        issuer: idA.issuer,
        verification: {
          audience: AUDIENCE,
          tokenLocations: ['header', 'body'],
          dpopAlgorithms: ['ES256', 'EdDSA'],
          issuers: [{ issuer: idA.issuer }, { issuer: idB.issuer }],
          resourceMetadata: { resource, resourceName: 'Orders API' },
        },
      }),
      logger,
    );
    metadataUrl = `${running.url}/.well-known/oauth-protected-resource/orders`;
  });

  afterAll(async () => {
    await running?.app.close();
    await Promise.all([idA?.close(), idB?.close()]);
  });

  it("is served at the resource's well-known URL, without a token, outside the global prefix", async () => {
    const response = await rawRequest(running.url, {
      path: '/.well-known/oauth-protected-resource/orders',
    });
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    expect(response.headers['access-control-allow-origin']).toBe('*');
    expect(JSON.parse(response.body)).toEqual({
      resource: running.resource,
      authorization_servers: [idA.issuer, idB.issuer],
      scopes_supported: ['orders:admin', 'orders:read', 'orders:write'],
      bearer_methods_supported: ['header', 'body'],
      dpop_signing_alg_values_supported: ['ES256', 'EdDSA'],
      resource_name: 'Orders API',
    });
  });

  it("is accepted by oauth4webapi's resourceDiscoveryRequest and processResourceDiscoveryResponse", async () => {
    const resource = new URL(running.resource);
    const response = await oauth.resourceDiscoveryRequest(resource, {
      [oauth.allowInsecureRequests]: true,
    });
    const metadata = await oauth.processResourceDiscoveryResponse(resource, response);
    expect(metadata.resource).toBe(running.resource);
    expect(metadata.authorization_servers).toEqual([idA.issuer, idB.issuer]);
  });

  const challenges: { case: string; authorization?: string; path: string; status: number }[] = [
    { case: 'no token', path: '/api/orders', status: 401 },
    {
      case: 'a malformed token',
      authorization: 'Bearer not-a-jwt',
      path: '/api/orders',
      status: 401,
    },
    {
      case: 'an opaque token no issuer introspects',
      authorization: 'Bearer opaque',
      path: '/api/orders',
      status: 401,
    },
    { case: 'another scheme', authorization: 'Basic abc', path: '/api/orders', status: 401 },
  ];

  it.each(challenges)('every 401 names the metadata: $case', async (row) => {
    const response = await rawRequest(running.url, {
      path: row.path,
      headers: row.authorization ? [['Authorization', row.authorization]] : [],
    });
    expect(response.status).toBe(row.status);
    expect(response.headers['www-authenticate']).toContain(`resource_metadata="${metadataUrl}"`);
  });

  it('a 403 for a missing scope names it too, and a valid token of B passes', async () => {
    const token = await idB.mintJwt({ sub: 'billing', aud: AUDIENCE, scope: 'orders:read' });
    const read = await rawRequest(running.url, {
      path: '/api/orders',
      headers: [['Authorization', `Bearer ${token}`]],
    });
    expect(read.status).toBe(200);
    const write = await rawRequest(running.url, {
      path: '/api/orders/write',
      headers: [['Authorization', `Bearer ${token}`]],
    });
    expect(write.status).toBe(403);
    expect(write.headers['www-authenticate']).toContain(`resource_metadata="${metadataUrl}"`);
  });

  it('without verification.resourceMetadata nothing is served and challenges name none', async () => {
    const plain = await startApp(
      platform,
      () => ({ issuer: idA.issuer, verification: { audience: AUDIENCE } }),
      logger,
    );
    try {
      const document = await rawRequest(plain.url, {
        path: '/.well-known/oauth-protected-resource/orders',
      });
      expect(document.status).toBe(404);
      const refused = await rawRequest(plain.url, { path: '/api/orders' });
      expect(refused.status).toBe(401);
      expect(refused.headers['www-authenticate']).toBe('Bearer realm="api"');
    } finally {
      await plain.app.close();
    }
  });
});
