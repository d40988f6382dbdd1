// A real OpenID Provider (panva's oidc-provider) for interop tests, run as a child process by
// test/utils/oidc-provider.ts. It lives in its own process so jest's ESM VM never loads Koa.
// Protocol over the IPC channel: the parent sends one `{ type: 'start', options }` message, the child
// answers `{ type: 'ready', port }` or `{ type: 'error', message }`. The child exits when the channel closes,
// so it cannot outlive the test process.
import { generateKeyPairSync, randomBytes, X509Certificate } from 'node:crypto';
import { createServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import Provider from 'oidc-provider';

/** The seed's endpoint paths; discovery stays at /.well-known/openid-configuration. */
const ROUTES = {
  token: '/openid/token',
  introspection: '/openid/introspect',
  userinfo: '/openid/userinfo',
  jwks: '/openid/jwks.json',
  revocation: '/openid/revoke',
};

/** Resource indicator used when a token request names none, so every token is bound to a resource server. */
const DEFAULT_RESOURCE = 'urn:nest-oidc-client-credentials:default-resource';

function signingJwk() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  return { ...jwk, kid: `op-${randomBytes(6).toString('hex')}`, alg: 'RS256', use: 'sig' };
}

function clientMetadata(client) {
  return {
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    ...client,
  };
}

async function start(options) {
  const {
    clients,
    accessTokenFormat,
    ttlSeconds = 3600,
    audience,
    introspectors,
    jwtIntrospection,
    dpopNonces,
    tls,
  } = options;
  // With `tls`: https, asking every client for its certificate (checked against tls.ca, when given,
  // by certificateAuthorized below; a connection without one is still accepted).
  const server = tls
    ? createHttpsServer({
        cert: tls.cert,
        key: tls.key,
        ...(tls.ca ? { ca: tls.ca } : {}),
        requestCert: true,
        rejectUnauthorized: false,
      })
    : createServer();
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  const issuer = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  const introspectorIds = introspectors ? new Set(introspectors) : undefined;
  // A client's `scope` metadata must only name scopes the provider knows.
  const clientScopes = clients.flatMap((client) => client.scope?.split(' ') ?? []);

  const provider = new Provider(issuer, {
    clients: clients.map(clientMetadata),
    jwks: { keys: [signingJwk()] },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    routes: ROUTES,
    ...(tls
      ? {
          clientAuthMethods: [
            'client_secret_basic',
            'client_secret_jwt',
            'client_secret_post',
            'private_key_jwt',
            'none',
            'tls_client_auth',
            'self_signed_tls_client_auth',
          ],
        }
      : {}),
    scopes: [...new Set(['openid', ...clientScopes])],
    ttl: { ClientCredentials: ttlSeconds },
    // Client-credentials tokens have no account; nothing here ever looks one up.
    findAccount: async () => undefined,
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      revocation: { enabled: true },
      jwtIntrospection: { enabled: jwtIntrospection === true },
      // RFC 8705 over the https server: tls_client_auth (subject DN), self_signed_tls_client_auth
      // and certificate-bound access tokens.
      mTLS: {
        enabled: Boolean(tls),
        certificateBoundAccessTokens: true,
        tlsClientAuth: true,
        selfSignedTlsClientAuth: true,
        getCertificate: (ctx) => {
          const peer = ctx.socket.getPeerCertificate?.();
          return peer?.raw ? new X509Certificate(peer.raw) : undefined;
        },
        certificateAuthorized: (ctx) => ctx.socket.authorized === true,
        certificateSubjectMatches: (ctx, property, expected) => {
          if (property !== 'tls_client_auth_subject_dn') return false;
          return `CN=${ctx.socket.getPeerCertificate().subject?.CN}` === expected;
        },
      },
      dPoP: {
        enabled: true,
        ...(dpopNonces === true ? { nonceSecret: randomBytes(32), requireNonce: () => true } : {}),
      },
      introspection: {
        enabled: true,
        // As the seed requires: a client may introspect its own tokens; tokens of other clients only
        // when it is configured as an introspector (every confidential client when none are listed).
        allowedPolicy: async (ctx, client, token) => {
          if (token.clientId === client.clientId) return true;
          if (client.clientAuthMethod === 'none') return false;
          return introspectorIds ? introspectorIds.has(client.clientId) : true;
        },
      },
      resourceIndicators: {
        enabled: true,
        defaultResource: async (_ctx, _client, oneOf) => oneOf ?? DEFAULT_RESOURCE,
        useGrantedResource: async () => true,
        getResourceServerInfo: async (_ctx, resource, client) => ({
          scope: client.scope ?? '',
          // The seed's JWTs carry aud = the client id; an explicit resource is its own audience.
          audience: resource === DEFAULT_RESOURCE ? (audience ?? client.clientId) : resource,
          accessTokenFormat,
          accessTokenTTL: ttlSeconds,
          ...(accessTokenFormat === 'jwt' ? { jwt: { sign: { alg: 'RS256' } } } : {}),
        }),
      },
    },
  });

  // Static clients are otherwise validated lazily, turning a bad fixture into confusing request errors.
  for (const client of clients) {
    await provider.Client.validate(clientMetadata(client)).catch((error) => {
      server.close();
      throw new Error(`client ${client.client_id}: ${error.error_description ?? error.message}`);
    });
  }

  // Unexpected failures inside the provider surface in the parent's startup/error output.
  provider.on('server_error', (_ctx, error) => console.error('oidc-provider server_error', error));
  server.on('request', provider.callback());
  return { port, server };
}

process.on('disconnect', () => process.exit(0));
process.on('message', (message) => {
  if (message?.type !== 'start') return;
  start(message.options).then(
    ({ port }) => process.send({ type: 'ready', port }),
    (error) => {
      process.send({ type: 'error', message: String(error?.stack ?? error) });
      process.exitCode = 1;
    },
  );
});
