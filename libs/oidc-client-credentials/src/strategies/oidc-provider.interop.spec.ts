import { Logger } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  OidcClientCredentialsModule,
  TokenVerificationError,
  TokenVerificationStrategy,
  VerificationCache,
  type OidcClientCredentialsModuleOptions,
} from 'nest-oidc-client-credentials';
import {
  startOidcProvider,
  type RunningOidcProvider,
} from '../../../../test/utils/oidc-provider.js';

const CLIENTS = [
  { client_id: 'billing', client_secret: 'billing-secret', scope: 'orders:read orders:write' },
  { client_id: 'orders-api', client_secret: 'orders-api-secret' },
];
const quiet = () => undefined;
const silent = { log: quiet, error: quiet, warn: quiet, debug: quiet, verbose: quiet };

/** A client credentials token for `billing`, straight from the provider's token endpoint. */
async function tokenFrom(op: RunningOidcProvider, scope = 'orders:read'): Promise<string> {
  const response = await fetch(op.endpoints.token, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from('billing:billing-secret').toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope }),
  });
  expect(response.status).toBe(200);
  return ((await response.json()) as { access_token: string }).access_token;
}

async function inbound(
  op: RunningOidcProvider,
  options: Partial<OidcClientCredentialsModuleOptions>,
) {
  const moduleRef = await Test.createTestingModule({
    imports: [
      OidcClientCredentialsModule.forRoot({
        issuer: op.issuer,
        clientId: 'orders-api',
        clientSecret: 'orders-api-secret',
        ...options,
      }),
    ],
  })
    .setLogger(silent)
    .compile();
  return {
    strategy: moduleRef.get(TokenVerificationStrategy),
    cache: moduleRef.get(VerificationCache),
  };
}

describe('interop: verification strategies against a real OpenID Provider (oidc-provider)', () => {
  let jwtOp: RunningOidcProvider;
  let opaqueOp: RunningOidcProvider;

  beforeAll(async () => {
    Logger.overrideLogger(false);
    [jwtOp, opaqueOp] = await Promise.all([
      startOidcProvider({ clients: CLIENTS, accessTokenFormat: 'jwt', audience: 'urn:orders-api' }),
      startOidcProvider({ clients: CLIENTS, accessTokenFormat: 'opaque' }),
    ]);
  });
  afterAll(async () => {
    Logger.overrideLogger(new Logger());
    await Promise.all([jwtOp?.close(), opaqueOp?.close()]);
  });

  it.each(['default', 'rfc9068'] as const)(
    'verifies its JWT access token with the jwt strategy (%s profile, audience checked)',
    async (profile) => {
      const { strategy } = await inbound(jwtOp, {
        verification: { strategy: 'jwt', profile, audience: 'urn:orders-api' },
      });
      const verified = await strategy.verify(await tokenFrom(jwtOp));
      expect(verified).toMatchObject({
        clientId: 'billing',
        scopes: ['orders:read'],
        issuer: jwtOp.issuer,
        audience: ['urn:orders-api'],
      });
      expect(verified.claims.jti).toEqual(expect.any(String));
    },
  );

  it('refuses its JWT access token for another audience', async () => {
    const { strategy } = await inbound(jwtOp, {
      verification: { strategy: 'jwt', audience: 'urn:billing-api' },
    });
    await expect(strategy.verify(await tokenFrom(jwtOp))).rejects.toBeInstanceOf(
      TokenVerificationError,
    );
  });

  it('auto routes its JWT access token to local verification', async () => {
    const { strategy } = await inbound(jwtOp, {});
    await expect(strategy.verify(await tokenFrom(jwtOp))).resolves.toMatchObject({
      clientId: 'billing',
    });
  });

  it('verifies its opaque access token by introspection, and sees a revocation', async () => {
    const { strategy, cache } = await inbound(opaqueOp, {
      verification: { strategy: 'introspection' },
    });
    const token = await tokenFrom(opaqueOp, 'orders:read orders:write');
    await expect(strategy.verify(token)).resolves.toMatchObject({
      clientId: 'billing',
      scopes: ['orders:read', 'orders:write'],
      issuer: opaqueOp.issuer,
    });

    const revoked = await fetch(opaqueOp.endpoints.revocation, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from('billing:billing-secret').toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ token }),
    });
    expect(revoked.status).toBe(200);
    cache.clear();
    await expect(strategy.verify(token)).rejects.toMatchObject({ code: 'OIDC_CC_TOKEN_INACTIVE' });
  });

  it('auto routes its opaque access token to introspection', async () => {
    const { strategy } = await inbound(opaqueOp, {});
    await expect(strategy.verify(await tokenFrom(opaqueOp))).resolves.toMatchObject({
      clientId: 'billing',
    });
  });

  it('userinfo refuses client credentials tokens: invalid_token (S67)', async () => {
    const { strategy } = await inbound(opaqueOp, { verification: { strategy: 'userinfo' } });
    await expect(strategy.verify(await tokenFrom(opaqueOp))).rejects.toMatchObject({
      code: 'OIDC_CC_TOKEN_INVALID',
    });
  });
});
