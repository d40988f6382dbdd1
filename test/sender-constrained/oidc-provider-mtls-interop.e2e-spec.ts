import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { Agent } from 'undici';
import {
  ClientCredentialsHttpService,
  OidcClientCredentialsModule,
  TokenProvider,
} from 'nest-oidc-client-credentials';
import { CapturingLogger, HTTP_PLATFORMS } from '../utils/nest-http-app.js';
import { startOidcProvider, type RunningOidcProvider } from '../utils/oidc-provider.js';
import {
  createCertificateAuthority,
  type CertificateAndKey,
  type TestCertificateAuthority,
} from '../utils/tls-certificates.js';
import {
  AUDIENCE,
  rawHttpsRequest,
  senderConstrainedAppModule,
  startHttpsApp,
} from './app.module.js';

const API = { id: 'orders-api', secret: 'orders-api-s3cret' };
const silent = { log() {}, error() {}, warn() {}, debug() {}, verbose() {} };

/**
 * The library's client gets certificate-bound tokens from a real OpenID Provider over https
 * (oidc-provider `features.mTLS`: `tls_client_auth`, certificate-bound access tokens), and its
 * HttpService presents the same certificate to a library-guarded API over https with
 * `requestCert`, which requires certificate-bound tokens.
 */
describe.each(['jwt', 'opaque'] as const)(
  'certificate-bound %s tokens of oidc-provider, accepted by the guard',
  (accessTokenFormat) => {
    let ca: TestCertificateAuthority;
    let client: CertificateAndKey;
    let other: CertificateAndKey;
    let apiServer: CertificateAndKey;
    let op: RunningOidcProvider;
    let trustCa: Agent;
    const closers: (() => Promise<unknown>)[] = [];

    beforeAll(async () => {
      Logger.overrideLogger(false);
      ca = createCertificateAuthority('mTLS interop CA');
      client = ca.issue({ commonName: 'billing', usage: 'client' });
      other = ca.issue({ commonName: 'intruder', usage: 'client' });
      apiServer = ca.issue({ commonName: 'orders-api' });
      const opServer = ca.issue({ commonName: '127.0.0.1' });
      trustCa = new Agent({ connect: { ca: ca.cert } });
      op = await startOidcProvider({
        accessTokenFormat,
        audience: AUDIENCE,
        tls: { cert: opServer.cert, key: opServer.key, ca: ca.cert },
        clients: [
          {
            client_id: 'billing',
            token_endpoint_auth_method: 'tls_client_auth',
            tls_client_auth_subject_dn: 'CN=billing',
            tls_client_certificate_bound_access_tokens: true,
            scope: 'orders:read',
          },
          { client_id: API.id, client_secret: API.secret },
        ],
        introspectors: [API.id],
      });
    });
    afterAll(async () => {
      while (closers.length > 0) await closers.pop()!();
      Logger.overrideLogger(new Logger());
      await trustCa?.close();
      await op?.close();
    });

    it.each(HTTP_PLATFORMS)(
      'on %s: 200 with the bound certificate; 401 with another one or none',
      async (platform) => {
        const logger = new CapturingLogger();
        const api = await startHttpsApp(
          platform,
          senderConstrainedAppModule(
            op.issuer,
            {
              strategy: accessTokenFormat === 'jwt' ? 'jwt' : 'introspection',
              mtls: 'required',
            },
            { clientId: API.id, clientSecret: API.secret, http: { dispatcher: trustCa } },
          ),
          { key: apiServer.key, cert: apiServer.cert, ca: ca.cert },
          logger,
        );
        closers.push(() => api.close());
        const moduleRef = await Test.createTestingModule({
          imports: [
            OidcClientCredentialsModule.forRoot({
              issuer: op.issuer,
              clientId: 'billing',
              clientAuthMethod: 'tls_client_auth',
              mtls: { cert: client.cert, key: client.key, ca: ca.cert },
              scope: 'orders:read',
            }),
          ],
        })
          .setLogger(silent)
          .compile();
        await moduleRef.init();
        closers.push(() => moduleRef.close());

        const http = moduleRef.get(ClientCredentialsHttpService);
        const response = await http.axiosRef.get(`${api.url}/orders/read`);
        expect(response.status).toBe(200);
        expect(response.data).toEqual({ clientId: 'billing' });

        const token = await moduleRef.get(TokenProvider).getToken();
        const headers: [string, string][] = [['Authorization', `Bearer ${token}`]];
        const path = '/orders/read';
        const withOther = await rawHttpsRequest(api.url, {
          path,
          headers,
          ca: ca.cert,
          client: other,
        });
        expect(withOther.status).toBe(401);
        expect(withOther.headers['www-authenticate']).toBe(
          'Bearer realm="api", error="invalid_token", error_description="The client certificate is not the one the access token is bound to"',
        );
        const withNone = await rawHttpsRequest(api.url, { path, headers, ca: ca.cert });
        expect(withNone.status).toBe(401);
        const withOwn = await rawHttpsRequest(api.url, { path, headers, ca: ca.cert, client });
        expect(withOwn.status).toBe(200);
        expect(logger.text()).not.toContain(token);
      },
    );
  },
);
