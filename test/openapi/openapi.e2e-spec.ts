import type { INestApplication, ModuleMetadata } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import { Test } from '@nestjs/testing';
import { addClientCredentialsSecurity } from 'nest-oidc-client-credentials';
import { FakeIdService, PATHS } from 'nest-oidc-client-credentials/testing';
import { globalGuardAppModule, perRouteAppModule } from './app.module.js';

/** The security requirements of every operation, by `METHOD /path`. */
function securityByOperation(document: OpenAPIObject): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  for (const [path, item] of Object.entries(document.paths)) {
    for (const method of ['get', 'post', 'put', 'patch', 'delete'] as const) {
      const operation = item[method];
      if (operation) result[`${method.toUpperCase()} ${path}`] = operation.security;
    }
  }
  return result;
}

describe('addClientCredentialsSecurity: OpenAPI for guarded routes', () => {
  let idp: FakeIdService;
  const apps: INestApplication[] = [];

  beforeAll(async () => {
    idp = await FakeIdService.start();
  });

  afterAll(async () => {
    for (const app of apps) await app.close();
    await idp?.close();
  });

  async function document(metadata: ModuleMetadata, options = {}): Promise<OpenAPIObject> {
    const moduleRef = await Test.createTestingModule(metadata).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    apps.push(app);
    await app.init();
    const builder = await addClientCredentialsSecurity(
      app,
      new DocumentBuilder().setTitle('Orders'),
      options,
    );
    return SwaggerModule.createDocument(app, builder.build());
  }

  it('declares the clientCredentials scheme with the discovered token URL and every scope', async () => {
    const doc = await document(perRouteAppModule({ issuer: idp.issuer }), {
      scopes: { 'orders:read': 'Read orders' },
    });
    expect(doc.components?.securitySchemes).toEqual({
      oauth2: {
        type: 'oauth2',
        flows: {
          clientCredentials: {
            tokenUrl: idp.url(PATHS.token),
            scopes: { 'orders:read': 'Read orders', 'orders:write': '' },
          },
        },
      },
    });
  });

  it('marks the routes @UseGuards() protects with their scopes, not @Public() or unguarded ones', async () => {
    const doc = await document(perRouteAppModule({ issuer: idp.issuer }));
    expect(securityByOperation(doc)).toEqual({
      'GET /orders': [{ oauth2: ['orders:read'] }],
      'POST /orders': [{ oauth2: ['orders:read', 'orders:write'] }],
      'GET /orders/health': undefined,
      'GET /reports': [{ oauth2: [] }],
      'GET /reports/public': undefined,
    });
  });

  it('marks every route of an APP_GUARD app but the @Public() ones; an explicit token URL and name', async () => {
    const doc = await document(globalGuardAppModule({ issuer: 'https://id.example.com' }), {
      name: 'machines',
      tokenUrl: 'https://id.example.com/oauth/token',
      description: 'Client credentials',
    });
    expect(doc.components?.securitySchemes?.machines).toEqual({
      type: 'oauth2',
      description: 'Client credentials',
      flows: {
        clientCredentials: {
          tokenUrl: 'https://id.example.com/oauth/token',
          scopes: { 'invoices:read': '' },
        },
      },
    });
    expect(securityByOperation(doc)).toEqual({
      'GET /invoices': [{ machines: ['invoices:read'] }],
      'GET /status': undefined,
    });
  });

  it('adds each requirement once when documents are built again', async () => {
    await document(perRouteAppModule({ issuer: idp.issuer }));
    const doc = await document(perRouteAppModule({ issuer: idp.issuer }));
    expect(securityByOperation(doc)['GET /orders']).toEqual([{ oauth2: ['orders:read'] }]);
  });
});
