import { inspect } from 'node:util';
import { Logger, type LoggerService } from '@nestjs/common';
import { exportJWK, generateKeyPair } from 'jose';
import {
  TokenProvider,
  TokenRequestError,
  type ClientAuthMethod,
  type OidcClientCredentialsModuleOptions,
} from 'nest-oidc-client-credentials';
import { FakeIdService, PATHS, type RecordedRequest } from 'nest-oidc-client-credentials/testing';
import { IssuerMetadataProvider } from '../idp/issuer-metadata.provider.js';
import { formUrlEncode } from '../idp/client-authentication.util.js';
import { resolveOptions } from '../options/resolve-options.util.js';

// S83: an ID service that echoes what it received in its error answer (the Authorization header,
// the form body, the client assertion) must not get the credentials into err.message, the error's
// fields or the logs, in any encoding the library sent them in.

const SECRET = "p@ss w%rd+/=~!*()':x-Zq9";
const CLIENT = 'echo-client';
const JWT_CLIENT = 'echo-jwt-client';

type Echo = (request: RecordedRequest) => string;

const authorization: Echo = (r) => r.headers.authorization ?? '';
const basicCredentials: Echo = (r) => (r.headers.authorization ?? '').replace(/^Basic /, '');
const assertion: Echo = (r) => r.form.get('client_assertion') ?? '';
const segment =
  (index: number): Echo =>
  (r) =>
    assertion(r).split('.')[index] ?? '';

/**
 * What each method sends, as an ID service could echo it back (the TLS client auth methods send
 * no secret: the certificate stays in the TLS handshake).
 */
const ECHOES: Partial<Record<ClientAuthMethod, [string, Echo][]>> = {
  client_secret_basic: [
    ['the Authorization header value', authorization],
    ['the Basic credentials (base64 of id:secret, form-encoded)', basicCredentials],
    ['the decoded id:secret pair', (r) => Buffer.from(basicCredentials(r), 'base64').toString()],
    ['the header line as received', (r) => `authorization: ${authorization(r)}`],
  ],
  client_secret_post: [
    ['the raw form body', (r) => r.body],
    ['the decoded client_secret', (r) => r.form.get('client_secret') ?? ''],
  ],
  client_secret_query: [
    ['the raw query', (r) => r.query.toString()],
    ['the decoded client_secret', (r) => r.query.get('client_secret') ?? ''],
  ],
  private_key_jwt: [
    ['the client assertion', assertion],
    ['the raw form body', (r) => r.body],
    ['the assertion header segment', segment(0)],
    ['the assertion payload segment', segment(1)],
    ['the assertion signature segment', segment(2)],
    ['the assertion segments apart', (r) => assertion(r).split('.').join(' ')],
  ],
  client_secret_jwt: [
    ['the client assertion (HS256 over the secret)', assertion],
    ['the raw form body', (r) => r.body],
    ['the assertion signature segment', segment(2)],
  ],
};

const ROWS = (Object.entries(ECHOES) as [ClientAuthMethod, [string, Echo][]][]).flatMap(
  ([method, echoes]) =>
    echoes.flatMap(([what, echo]) =>
      (['error_description', 'error'] as const).map(
        (field) => [`S83 ${method}: ${what} in ${field}`, method, echo, field] as const,
      ),
    ),
);

/** Every 16-character stretch of `value` (the whole of a shorter one). */
function pieces(value: string): string[] {
  const size = Math.min(16, value.length);
  return Array.from({ length: value.length - size + 1 }, (_, i) => value.slice(i, i + size));
}

describe('TokenProvider redacts credentials an ID service echoes in its error answer (S83)', () => {
  let idp: FakeIdService;
  let privateKey: OidcClientCredentialsModuleOptions['privateKey'];
  let logs: string[];

  beforeAll(async () => {
    idp = await FakeIdService.start({ clients: { [CLIENT]: { secret: SECRET } } });
    const pair = await generateKeyPair('ES256', { extractable: true });
    idp.clients[JWT_CLIENT] = {
      jwks: { keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k', alg: 'ES256' }] },
    };
    privateKey = { ...(await exportJWK(pair.privateKey)), kid: 'k', alg: 'ES256' };
  });
  afterAll(async () => {
    Logger.overrideLogger(new Logger());
    await idp.close();
  });
  beforeEach(() => {
    logs = [];
    const capture =
      (level: string) =>
      (message: unknown, ...rest: unknown[]) =>
        logs.push(`${level} ${String(message)} ${rest.map((r) => String(r)).join(' ')}`);
    const logger: LoggerService = {
      log: capture('log'),
      error: capture('error'),
      warn: capture('warn'),
      debug: capture('debug'),
      verbose: capture('verbose'),
    };
    Logger.overrideLogger(logger);
  });
  afterEach(() => idp.reset());

  function provider(method: ClientAuthMethod): TokenProvider {
    const jwt = method === 'private_key_jwt';
    const resolved = resolveOptions({
      issuer: idp.issuer,
      endpoints: { token: idp.url(PATHS.token) },
      clientId: jwt ? JWT_CLIENT : CLIENT,
      clientSecret: jwt ? undefined : SECRET,
      privateKey: jwt ? privateKey : undefined,
      clientAuthMethod: method,
      retry: { maxAttempts: 1 },
    });
    return new TokenProvider(resolved, new IssuerMetadataProvider(resolved));
  }

  /** Every form the request's credentials took on the wire, and the secret's own encodings. */
  function sentForms(method: ClientAuthMethod, request: RecordedRequest): string[] {
    if (method === 'private_key_jwt') {
      return [assertion(request), ...assertion(request).split('.')];
    }
    if (method === 'client_secret_jwt') {
      return [assertion(request), ...assertion(request).split('.'), SECRET];
    }
    const forms = [SECRET, formUrlEncode(SECRET), encodeURIComponent(SECRET)];
    if (method === 'client_secret_basic') {
      const pair = `${formUrlEncode(CLIENT)}:${formUrlEncode(SECRET)}`;
      forms.push(`Basic ${Buffer.from(pair).toString('base64')}`);
      forms.push(Buffer.from(pair).toString('base64'));
      expect(authorization(request)).toBe(forms[3]);
    }
    return forms;
  }

  it.each(ROWS)('%s', async (_case, method, echo, field) => {
    idp.on(PATHS.token, (request) => ({
      status: 401,
      body:
        field === 'error'
          ? { error: `invalid_client ${echo(request)}` }
          : { error: 'invalid_client', error_description: `rejected: ${echo(request)} (echoed)` },
    }));
    const error = await provider(method)
      .getToken()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TokenRequestError);
    const [request] = idp.requestsTo(PATHS.token);
    expect(echo(request).length).toBeGreaterThan(0);

    const e = error as TokenRequestError;
    // The echo arrived and was redacted (unless cut off by the length limit), not dropped.
    expect(JSON.stringify(e.details)).toMatch(/\[redacted\]|\.\.\./);
    const renderings = [
      e.message,
      String(e),
      e.stack ?? '',
      JSON.stringify(e),
      inspect(e),
      ...logs,
    ];
    // Not even a piece of one: a truncated echo would still give part of the secret away.
    for (const piece of sentForms(method, request).flatMap(pieces)) {
      for (const text of renderings) expect(text).not.toContain(piece);
    }
    expect(logs.some((line) => line.includes(e.message))).toBe(true);
  });

  it.each<[string, string]>([
    ['a JWT of the ID service in error_description', 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln'],
    ['an unsigned JWT', 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.'],
    ['a JWE', 'eyJhbGciOiJkaXIifQ..aXY.Y2lwaGVy.dGFn'],
  ])('S83 redacts %s', async (_case, jwt) => {
    idp.on(PATHS.token, () => ({
      status: 400,
      body: { error: 'invalid_request', error_description: `token ${jwt} is not accepted` },
    }));
    const error = (await provider('client_secret_basic')
      .getToken()
      .catch((e: unknown) => e)) as TokenRequestError;
    expect(error.details.errorDescription).toBe('token [redacted] is not accepted');
    expect(inspect(error)).not.toContain(jwt);
  });
});
