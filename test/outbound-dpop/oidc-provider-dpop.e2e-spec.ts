import { Logger } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { decodeJwt } from 'jose';
import {
  OidcClientCredentialsModule,
  TokenProvider,
  type OidcClientCredentialsModuleOptions,
} from 'nest-oidc-client-credentials';
import { startOidcProvider, type RunningOidcProvider } from '../utils/oidc-provider.js';
import { silent } from '../utils/silent-apps.js';

const SECRET = 'dpop-app-s3cret';

describe.each(['jwt', 'opaque'] as const)(
  'DPoP interop with a real OpenID Provider (oidc-provider, nonces required, %s tokens)',
  (accessTokenFormat) => {
    let op: RunningOidcProvider;
    const closers: (() => Promise<unknown>)[] = [];

    beforeAll(async () => {
      Logger.overrideLogger(false);
      op = await startOidcProvider({
        accessTokenFormat,
        dpopNonces: true,
        clients: [
          {
            client_id: 'dpop-app',
            client_secret: SECRET,
            scope: 'orders:read',
            // The provider issues this client DPoP-bound tokens only.
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

    async function provider(options: Partial<OidcClientCredentialsModuleOptions> = {}) {
      const moduleRef = await Test.createTestingModule({
        imports: [
          OidcClientCredentialsModule.forRoot({
            issuer: op.issuer,
            clientId: 'dpop-app',
            clientSecret: SECRET,
            scope: 'orders:read',
            dpop: true,
            ...options,
          }),
        ],
      })
        .setLogger(silent)
        .compile();
      await moduleRef.init();
      closers.push(() => moduleRef.close());
      return moduleRef.get(TokenProvider);
    }

    /** The token's `cnf`: in the JWT, or in the provider's introspection answer. */
    async function confirmationOf(token: string): Promise<unknown> {
      if (accessTokenFormat === 'jwt') return decodeJwt(token).cnf;
      const response = await fetch(op.endpoints.introspection, {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from(`dpop-app:${SECRET}`).toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: new URLSearchParams({ token }),
      });
      const answer = (await response.json()) as { active: boolean; cnf?: unknown };
      expect(answer.active).toBe(true);
      return answer.cnf;
    }

    it.each([
      ['ES256', true],
      ['EdDSA', { alg: 'EdDSA' }],
    ] as const)(
      '%s: a DPoP-bound token after the provider’s use_dpop_nonce, cnf.jkt the key’s thumbprint',
      async (_alg, dpop) => {
        const tokens = await provider({ dpop });
        const token = await tokens.getTokenResponse();
        expect(token.tokenType).toBe('dpop');
        expect(await confirmationOf(token.accessToken)).toEqual({
          jkt: await tokens.dpopThumbprint(),
        });
        // The nonce is remembered: a new token takes one request, not a second challenge.
        const renewed = await tokens.getTokenResponse({ forceRefresh: true });
        expect(renewed.accessToken).not.toBe(token.accessToken);
        expect(renewed.tokenType).toBe('dpop');
      },
    );

    it('without dpop the provider refuses the client: its error is named', async () => {
      const tokens = await provider({ dpop: false });
      await expect(tokens.getToken()).rejects.toMatchObject({
        code: 'OIDC_CC_TOKEN_REQUEST_FAILED',
        details: { status: 400, error: 'invalid_grant' },
      });
    });
  },
);
