import { createPublicKey, X509Certificate } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { Logger } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { decodeJwt } from 'jose';
import { firstValueFrom } from 'rxjs';
import {
  ClientCredentialsHttpService,
  OidcClientCredentialsModule,
  TokenProvider,
  TokenRequestError,
  type OidcClientCredentialsModuleOptions,
} from 'nest-oidc-client-credentials';
import { startOidcProvider, type RunningOidcProvider } from '../utils/oidc-provider.js';
import {
  createCertificateAuthority,
  selfSignedCertificate,
  type CertificateAndKey,
  type TestCertificateAuthority,
} from '../utils/tls-certificates.js';
import { silent } from '../utils/silent-apps.js';

// Outbound mTLS (RFC 8705) against a real oidc-provider over https that asks for the client's
// certificate (features.mTLS: tls_client_auth, self_signed_tls_client_auth, certificate-bound
// access tokens): the token's cnf["x5t#S256"] is the thumbprint of the certificate the client
// presented, and the client's HttpService presents the same certificate to the API it calls.

const SECRET = 'mtls-bound-secret-4c1e9a';

describe('outbound mTLS against oidc-provider (e2e)', () => {
  let ca: TestCertificateAuthority;
  let client: CertificateAndKey;
  let selfSigned: CertificateAndKey;
  let stranger: CertificateAndKey;
  let op: RunningOidcProvider;
  let moduleRef: TestingModule | undefined;

  beforeAll(async () => {
    Logger.overrideLogger(false);
    ca = createCertificateAuthority('ID service test CA');
    const server = ca.issue({ commonName: '127.0.0.1' });
    client = ca.issue({ commonName: 'mtls-client', usage: 'client' });
    selfSigned = selfSignedCertificate({ commonName: 'self-signed-client', usage: 'client' });
    // Not issued by the CA the provider trusts.
    stranger = selfSignedCertificate({ commonName: 'mtls-client', usage: 'client' });
    const selfSignedJwk = {
      ...createPublicKey(selfSigned.cert).export({ format: 'jwk' }),
      x5c: [new X509Certificate(selfSigned.cert).raw.toString('base64')],
    };
    op = await startOidcProvider({
      accessTokenFormat: 'jwt',
      tls: { cert: server.cert, key: server.key, ca: ca.cert },
      clients: [
        {
          client_id: 'tls-app',
          token_endpoint_auth_method: 'tls_client_auth',
          tls_client_auth_subject_dn: 'CN=mtls-client',
          tls_client_certificate_bound_access_tokens: true,
          scope: 'orders:read',
        },
        {
          client_id: 'self-signed-app',
          token_endpoint_auth_method: 'self_signed_tls_client_auth',
          jwks: { keys: [selfSignedJwk] },
          tls_client_certificate_bound_access_tokens: true,
          scope: 'orders:read',
        },
        {
          client_id: 'secret-app',
          client_secret: SECRET,
          tls_client_certificate_bound_access_tokens: true,
          scope: 'orders:read',
        },
      ],
    });
  });
  afterAll(async () => {
    Logger.overrideLogger(new Logger());
    await op?.close();
  });
  afterEach(async () => {
    await moduleRef?.close();
    moduleRef = undefined;
  });

  async function start(options: Partial<OidcClientCredentialsModuleOptions>) {
    moduleRef = await Test.createTestingModule({
      imports: [
        OidcClientCredentialsModule.forRoot({
          issuer: op.issuer,
          retry: { maxAttempts: 1 },
          verification: { warnOnMissingAudience: false },
          ...options,
        }),
      ],
    })
      .setLogger(silent)
      .compile();
    await moduleRef.init();
    return moduleRef;
  }

  it.each<[string, () => Partial<OidcClientCredentialsModuleOptions>, () => CertificateAndKey]>([
    [
      'tls_client_auth: the CA-issued certificate is the credential',
      () => ({
        clientId: 'tls-app',
        clientAuthMethod: 'tls_client_auth',
        mtls: { cert: client.cert, key: client.key, ca: ca.cert },
      }),
      () => client,
    ],
    [
      'self_signed_tls_client_auth: the registered self-signed certificate is the credential',
      () => ({
        clientId: 'self-signed-app',
        clientAuthMethod: 'self_signed_tls_client_auth',
        mtls: { cert: selfSigned.cert, key: selfSigned.key, ca: ca.cert },
      }),
      () => selfSigned,
    ],
    [
      'client_secret_basic with mtls: a certificate-bound token',
      () => ({
        clientId: 'secret-app',
        clientSecret: SECRET,
        mtls: { cert: client.cert, key: client.key, ca: ca.cert },
      }),
      () => client,
    ],
  ])('%s: cnf["x5t#S256"] is the certificate thumbprint', async (_case, options, certificate) => {
    const app = await start(options());
    const token = await app.get(TokenProvider).getToken();
    const claims = decodeJwt(token);
    expect(claims.cnf).toEqual({ 'x5t#S256': certificate().thumbprint });
  });

  it('tls_client_auth with a certificate the ID service does not trust: refused with invalid_client, naming the endpoint', async () => {
    const app = await start({
      clientId: 'tls-app',
      clientAuthMethod: 'tls_client_auth',
      mtls: { cert: stranger.cert, key: stranger.key, ca: ca.cert },
    });
    const failure = await app
      .get(TokenProvider)
      .getToken()
      .then(
        () => undefined,
        (error: unknown) => error,
      );
    expect(failure).toBeInstanceOf(TokenRequestError);
    expect(failure).toMatchObject({
      code: 'OIDC_CC_TOKEN_REQUEST_FAILED',
      details: { status: 401, error: 'invalid_client' },
    });
    expect((failure as Error).message).toContain('invalid_client');
    expect((failure as Error).message).toContain(`${op.issuer}/openid/token`);
    // The key never shows.
    expect((failure as Error).message).not.toContain('PRIVATE KEY');
  });

  it('the HttpService presents the same certificate to the API it calls, with the bound token', async () => {
    const seen: { thumbprint?: string; authorization?: string }[] = [];
    const apiCert = ca.issue({ commonName: '127.0.0.1' });
    const api: Server = createServer(
      { cert: apiCert.cert, key: apiCert.key, requestCert: true, rejectUnauthorized: false },
      (request, response) => {
        const peer = (request.socket as TLSSocket).getPeerCertificate();
        seen.push({
          thumbprint: peer.raw ? new X509Certificate(peer.raw).fingerprint256 : undefined,
          authorization: request.headers.authorization,
        });
        response.end('{}');
      },
    );
    await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
    try {
      const app = await start({
        clientId: 'tls-app',
        clientAuthMethod: 'tls_client_auth',
        mtls: { cert: client.cert, key: client.key, ca: ca.cert },
      });
      const { port } = api.address() as AddressInfo;
      await firstValueFrom(app.get(ClientCredentialsHttpService).get(`https://127.0.0.1:${port}/`));
      const token = await app.get(TokenProvider).getToken();
      expect(seen).toEqual([
        {
          thumbprint: new X509Certificate(client.cert).fingerprint256,
          authorization: `Bearer ${token}`,
        },
      ]);
      expect(decodeJwt(token).cnf).toEqual({ 'x5t#S256': client.thumbprint });
    } finally {
      await new Promise((resolve) => api.close(resolve));
    }
  });
});
