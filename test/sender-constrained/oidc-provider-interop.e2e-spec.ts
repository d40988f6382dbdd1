import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  ClientCredentialsHttpService,
  OidcClientCredentialsModule,
  TokenProvider,
  type VerificationOptions,
} from 'nest-oidc-client-credentials';
import {
  CapturingLogger,
  HTTP_PLATFORMS,
  rawRequest,
  startHttpApp,
  type RunningApp,
} from '../utils/nest-http-app.js';
import { startOidcProvider, type RunningOidcProvider } from '../utils/oidc-provider.js';
import { closeStores, redisStore, uniquePrefix } from '../utils/redis.js';
import { AUDIENCE, senderConstrainedAppModule } from './app.module.js';

const CALLER = { id: 'billing', secret: 'billing-s3cret' };
const API = { id: 'orders-api', secret: 'orders-api-s3cret' };
const silent = { log() {}, error() {}, warn() {}, debug() {}, verbose() {} };

/**
 * The library's client gets DPoP-bound tokens from a real OpenID Provider (oidc-provider with
 * `features.dPoP`, nonces required) and calls a library-guarded API that requires DPoP and its own
 * nonces, through `ClientCredentialsHttpService` (which answers both providers' `use_dpop_nonce`).
 */
describe.each(['jwt', 'opaque'] as const)(
  'DPoP-bound %s tokens of oidc-provider, accepted by the guard',
  (accessTokenFormat) => {
    let op: RunningOidcProvider;
    const closers: (() => Promise<unknown>)[] = [];

    beforeAll(async () => {
      op = await startOidcProvider({
        accessTokenFormat,
        audience: AUDIENCE,
        dpopNonces: true,
        clients: [
          {
            client_id: CALLER.id,
            client_secret: CALLER.secret,
            scope: 'orders:read',
            dpop_bound_access_tokens: true,
          },
          { client_id: API.id, client_secret: API.secret },
        ],
        introspectors: [API.id],
      });
    });
    afterAll(async () => {
      while (closers.length > 0) await closers.pop()!();
      await op?.close();
    });

    /** What the API checks tokens with: the JWKS for JWTs, introspection for opaque ones. */
    const verification = (): VerificationOptions => ({
      strategy: accessTokenFormat === 'jwt' ? 'jwt' : 'introspection',
      dpop: 'required',
      dpopNonce: true,
    });

    async function caller() {
      const moduleRef = await Test.createTestingModule({
        imports: [
          OidcClientCredentialsModule.forRoot({
            issuer: op.issuer,
            clientId: CALLER.id,
            clientSecret: CALLER.secret,
            scope: 'orders:read',
            dpop: true,
            allowInsecureHttp: true,
          }),
        ],
      })
        .setLogger(silent)
        .compile();
      await moduleRef.init();
      closers.push(() => moduleRef.close());
      return {
        http: moduleRef.get(ClientCredentialsHttpService),
        tokens: moduleRef.get(TokenProvider),
      };
    }

    it.each(HTTP_PLATFORMS)(
      'on %s: 200 through the HttpService; the same token without its proof or as Bearer: 401',
      async (platform) => {
        const logger = new CapturingLogger();
        const api: RunningApp = await startHttpApp(
          platform,
          senderConstrainedAppModule(op.issuer, verification(), {
            clientId: API.id,
            clientSecret: API.secret,
            allowInsecureHttp: true,
          }),
          logger,
        );
        closers.push(() => api.close());
        const { http, tokens } = await caller();
        const response = await http.axiosRef.get(`${api.url}/orders/read`);
        expect(response.status).toBe(200);
        expect(response.data).toEqual({ clientId: CALLER.id });
        // A second call: a fresh proof with the nonce the API handed out.
        expect((await http.axiosRef.get(`${api.url}/orders/read`)).status).toBe(200);

        const token = await tokens.getToken();
        const asBearer = await rawRequest(api.url, {
          path: '/orders/read',
          headers: [['Authorization', `Bearer ${token}`]],
        });
        expect(asBearer.status).toBe(401);
        expect(asBearer.headers['www-authenticate']).toContain('error="invalid_token"');
        const withoutProof = await rawRequest(api.url, {
          path: '/orders/read',
          headers: [['Authorization', `DPoP ${token}`]],
        });
        expect(withoutProof.status).toBe(401);
        expect(withoutProof.headers['www-authenticate']).toContain('error="invalid_dpop_proof"');
        expect(logger.text()).not.toContain(token);
      },
    );
  },
);

describe('DPoP replay across two API instances sharing Redis, with oidc-provider tokens', () => {
  let op: RunningOidcProvider;
  const closers: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    Logger.overrideLogger(false);
    op = await startOidcProvider({
      accessTokenFormat: 'jwt',
      audience: AUDIENCE,
      clients: [
        {
          client_id: CALLER.id,
          client_secret: CALLER.secret,
          scope: 'orders:read',
          dpop_bound_access_tokens: true,
        },
      ],
    });
  });
  afterAll(async () => {
    while (closers.length > 0) await closers.pop()!();
    Logger.overrideLogger(new Logger());
    await op?.close();
  });

  it('a proof sent to both instances is accepted once', async () => {
    const logger = new CapturingLogger();
    const cache = {
      keyPrefix: uniquePrefix(),
      encryptionKey: randomBytes(32).toString('base64'),
      timeoutMs: 1000,
    };
    const stores = [redisStore(), redisStore()];
    closers.push(() => closeStores(stores));
    const start = (index: number) =>
      startHttpApp(
        'express',
        senderConstrainedAppModule(
          op.issuer,
          { dpop: 'required' },
          { allowInsecureHttp: true, cache: { ...cache, stores: [stores[index]] } },
        ),
        logger,
      );
    const [a, b] = [await start(0), await start(1)];
    closers.push(
      () => a.close(),
      () => b.close(),
    );
    const moduleRef = await Test.createTestingModule({
      imports: [
        OidcClientCredentialsModule.forRoot({
          issuer: op.issuer,
          clientId: CALLER.id,
          clientSecret: CALLER.secret,
          dpop: true,
          allowInsecureHttp: true,
        }),
      ],
    })
      .setLogger(silent)
      .compile();
    await moduleRef.init();
    closers.push(() => moduleRef.close());
    const tokens = moduleRef.get(TokenProvider);
    // The headers for fetch & co.: a proof for a's URL, sent to a, then replayed at b with a's
    // Host, as a proxy in front of both would forward it: only the shared jti can tell.
    const sent = await tokens.getAuthorizationHeaders({ method: 'GET', url: `${a.url}/orders` });
    expect(sent.authorization).toMatch(/^DPoP /);
    const first = await rawRequestWithHost(a.url, new URL(a.url).host, sent as Sent);
    expect(first.status).toBe(200);
    const sameHost = await rawRequestWithHost(b.url, new URL(a.url).host, sent as Sent);
    expect(sameHost.status).toBe(401);
    expect(sameHost.headers['www-authenticate']).toContain(
      'error_description="The DPoP proof was used before"',
    );
  });
});

type Sent = { authorization: string; dpop: string };

/** `GET /orders` at `url` with the Host header of another instance (as a proxy forwards it). */
async function rawRequestWithHost(url: string, host: string, sent: Sent) {
  const { request } = await import('node:http');
  return new Promise<{ status: number; headers: Record<string, unknown> }>((resolve, reject) => {
    const req = request(
      `${url}/orders`,
      {
        headers: [
          'Host',
          host,
          'Authorization',
          sent.authorization,
          'DPoP',
          sent.dpop,
        ] as unknown as Record<string, string>,
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}
