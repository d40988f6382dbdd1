import { Logger } from '@nestjs/common';
import { decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, type JWK } from 'jose';
import { Test } from '@nestjs/testing';
import {
  OidcClientCredentialsModule,
  TokenProvider,
  type OidcClientCredentialsModuleOptions,
} from 'nest-oidc-client-credentials';
import { startOidcProvider, type RunningOidcProvider } from '../utils/oidc-provider.js';
import { silent } from '../utils/silent-apps.js';

// Every character here is changed by RFC 6749 §2.3.1 form-urlencoding; a naive Basic header fails.
const SECRET = "p@ss w%rd+/=~!*()':x";

describe('interop with a real OpenID Provider (oidc-provider)', () => {
  let op: RunningOidcProvider;
  let privateKey: JWK;

  beforeAll(async () => {
    Logger.overrideLogger(false);
    const pair = await generateKeyPair('ES256', { extractable: true });
    privateKey = { ...(await exportJWK(pair.privateKey)), kid: 'signer-1', alg: 'ES256' };
    const publicJwk = { ...(await exportJWK(pair.publicKey)), kid: 'signer-1', alg: 'ES256' };
    op = await startOidcProvider({
      accessTokenFormat: 'jwt',
      ttlSeconds: 900,
      clients: [
        { client_id: 'basic-app', client_secret: SECRET, scope: 'orders:read orders:write' },
        {
          client_id: 'post-app',
          client_secret: SECRET,
          token_endpoint_auth_method: 'client_secret_post',
          scope: 'orders:read',
        },
        {
          client_id: 'jwt-app',
          token_endpoint_auth_method: 'private_key_jwt',
          jwks: { keys: [publicJwk] },
          scope: 'orders:read',
        },
      ],
    });
  });
  afterAll(async () => {
    Logger.overrideLogger(new Logger());
    await op?.close();
  });

  async function provider(options: Partial<OidcClientCredentialsModuleOptions>) {
    const moduleRef = await Test.createTestingModule({
      imports: [OidcClientCredentialsModule.forRoot({ issuer: op.issuer, ...options })],
    })
      .setLogger(silent)
      .compile();
    await moduleRef.init();
    return moduleRef.get(TokenProvider);
  }

  /** The token is a JWT from this provider, for this client, with this scope. */
  function expectIssuedTo(token: string, clientId: string, scope?: string) {
    expect(decodeProtectedHeader(token).typ).toBe('at+jwt');
    expect(decodeJwt(token)).toMatchObject({
      iss: op.issuer,
      client_id: clientId,
      ...(scope ? { scope } : {}),
    });
  }

  it('client_secret_basic with a secret that needs form-urlencoding', async () => {
    const tokens = await provider({
      clientId: 'basic-app',
      clientSecret: SECRET,
      scope: 'orders:read',
    });
    const response = await tokens.getTokenResponse();
    expectIssuedTo(response.accessToken, 'basic-app', 'orders:read');
    expect(response).toMatchObject({ tokenType: 'bearer', scope: 'orders:read' });
    expect(response.expiresAt - Date.now()).toBeGreaterThan(890_000);
    expect(response.expiresAt - Date.now()).toBeLessThanOrEqual(900_000);
    await expect(tokens.getToken()).resolves.toBe(response.accessToken);
  });

  it('client_secret_post', async () => {
    const token = await (
      await provider({
        clientId: 'post-app',
        clientSecret: SECRET,
        clientAuthMethod: 'client_secret_post',
        scope: 'orders:read',
      })
    ).getToken();
    expectIssuedTo(token, 'post-app', 'orders:read');
  });

  it.each<[string, OidcClientCredentialsModuleOptions['clientAssertion']]>([
    ['aud = issuer (default)', undefined],
    ['aud = token endpoint', { audience: 'token_endpoint' }],
    ['typ client-authentication+jwt', { explicitType: true }],
  ])('private_key_jwt, %s', async (_case, clientAssertion) => {
    const tokens = await provider({
      clientId: 'jwt-app',
      clientAuthMethod: 'private_key_jwt',
      privateKey,
      clientAssertion,
    });
    expectIssuedTo(await tokens.getToken(), 'jwt-app');
    // A second assertion right away is accepted too: its jti is fresh (the provider refuses replays).
    expectIssuedTo(await tokens.getToken({ forceRefresh: true }), 'jwt-app');
  });

  it('a resource indicator becomes the token audience', async () => {
    const token = await (
      await provider({
        clientId: 'basic-app',
        clientSecret: SECRET,
        resource: 'https://orders.example.com',
      })
    ).getToken();
    expect(decodeJwt(token).aud).toBe('https://orders.example.com');
  });

  it.each<[string, Partial<OidcClientCredentialsModuleOptions>, string]>([
    ['wrong secret', { clientId: 'basic-app', clientSecret: 'wrong' }, 'invalid_client'],
    [
      'scope not allowed',
      {
        clientId: 'post-app',
        clientSecret: SECRET,
        clientAuthMethod: 'client_secret_post',
        scope: 'orders:write',
      },
      'invalid_scope',
    ],
  ])('%s: a typed refusal carrying the provider error', async (_case, options, error) => {
    const tokens = await provider(options);
    const failure = await tokens.getToken().catch((e: unknown) => e);
    expect(failure).toMatchObject({ code: 'OIDC_CC_TOKEN_REQUEST_FAILED', error });
    expect(String(failure)).not.toContain(SECRET);
  });
});
