import { generateKeyPairSync, sign as nodeSign } from 'node:crypto';
import { decodeJwt, exportJWK, generateKeyPair, jwtVerify } from 'jose';
import * as oauth from 'oauth4webapi';
import { resolveOptions } from '../options/resolve-options.util.js';
import {
  authenticationForRequest,
  clientSecretBasic,
  createClientAuthentication,
  formUrlEncode,
  redactCredentials,
  withSentCredentials,
} from './client-authentication.util.js';

const as: oauth.AuthorizationServer = {
  issuer: 'https://id.example.com',
  token_endpoint: 'https://id.example.com/openid/token?tenant=a',
};

function basicHeader(clientId: string, secret: string): string | null {
  const headers = new Headers();
  void clientSecretBasic(secret)(as, { client_id: clientId }, new URLSearchParams(), headers);
  return headers.get('authorization');
}

describe('client authentication', () => {
  // docs/security-cases.md §1.1: RFC 6749 §2.3.1 vector and the extra vectors (WHATWG form encoding).
  it.each([
    [
      'S74 rfc6749-2.3.1',
      's6BhdRkqt3',
      '7Fjfp0ZBr1KtDRbnfVdmIw',
      'Basic czZCaGRSa3F0Mzo3RmpmcDBaQnIxS3REUmJuZlZkbUl3',
    ],
    [
      'S74 space-colon-percent-plus',
      'my client:1',
      "p@ss w%rd+/=~!*()'",
      'Basic bXkrY2xpZW50JTNBMTpwJTQwc3MrdyUyNXJkJTJCJTJGJTNEJTdFJTIxKiUyOCUyOSUyNw==',
    ],
    [
      'S74 colons',
      'client',
      's3cr3t:with:colons',
      'Basic Y2xpZW50OnMzY3IzdCUzQXdpdGglM0Fjb2xvbnM=',
    ],
    ['S74 non-ascii', 'clïent', 'sécret', 'Basic Y2wlQzMlQUZlbnQ6cyVDMyVBOWNyZXQ='],
  ])('%s: client_secret_basic header equals the vector', (_case, id, secret, expected) => {
    expect(basicHeader(id, secret)).toBe(expected);
  });

  it('S74 does not percent-encode dashes, dots and underscores (UUID client ids stay readable)', () => {
    const id = '3f2c1e7a-9b1d-4c4e-8f00-0a1b2c3d4e5f';
    expect(basicHeader(id, 'a.b_c-d')).toBe(
      `Basic ${Buffer.from(`${id}:a.b_c-d`).toString('base64')}`,
    );
  });

  it('encodes like application/x-www-form-urlencoded (RFC 6749 Appendix B)', () => {
    expect(formUrlEncode(' %&+£€')).toBe('+%25%26%2B%C2%A3%E2%82%AC');
  });

  it('S75 client_secret_post puts the credentials in the body only', async () => {
    const auth = await createClientAuthentication(
      resolveOptions({
        issuer: as.issuer,
        clientId: 'billing',
        clientSecret: 's3cret',
        clientAuthMethod: 'client_secret_post',
      }),
    );
    const body = new URLSearchParams();
    const headers = new Headers();
    await auth.authenticate(as, { client_id: 'billing' }, body, headers);
    expect(Object.fromEntries(body)).toEqual({ client_id: 'billing', client_secret: 's3cret' });
    expect(headers.has('authorization')).toBe(false);
    expect(auth.endpoint(as)).toBe(as);
  });

  it('client_secret_query puts the credentials in the URL query only, keeping its own query', async () => {
    const auth = await createClientAuthentication(
      resolveOptions({
        issuer: as.issuer,
        clientId: 'billing',
        clientSecret: 's3 cret&x',
        clientAuthMethod: 'client_secret_query',
      }),
    );
    const body = new URLSearchParams();
    const headers = new Headers();
    await auth.authenticate(as, { client_id: 'billing' }, body, headers);
    expect([...body]).toEqual([]);
    expect(headers.has('authorization')).toBe(false);
    const url = new URL(auth.endpoint(as).token_endpoint!);
    expect(Object.fromEntries(url.searchParams)).toEqual({
      tenant: 'a',
      client_id: 'billing',
      client_secret: 's3 cret&x',
    });
  });

  it.each<[string, oauth.AuthorizationServer, string]>([
    ['the token endpoint when it is known', as, as.token_endpoint!],
    [
      'the issuer when only introspection is known',
      { issuer: as.issuer, introspection_endpoint: `${as.issuer}/openid/introspect` },
      as.issuer,
    ],
  ])(
    "clientAssertion.audience 'token_endpoint': the assertion's aud is %s",
    async (_case, server, aud) => {
      const { privateKey } = await generateKeyPair('ES256', { extractable: true });
      const auth = await createClientAuthentication(
        resolveOptions({
          issuer: as.issuer,
          clientId: 'billing',
          clientAuthMethod: 'private_key_jwt',
          privateKey: { ...(await exportJWK(privateKey)), kid: 'k1', alg: 'ES256' },
          clientAssertion: { audience: 'token_endpoint' },
        }),
      );
      const body = new URLSearchParams();
      await auth.authenticate(server, { client_id: 'billing' }, body, new Headers());
      expect(decodeJwt(body.get('client_assertion')!).aud).toBe(aud);
    },
  );

  it('names the option when a private key cannot be imported', async () => {
    await expect(
      createClientAuthentication(
        resolveOptions({
          issuer: as.issuer,
          clientId: 'billing',
          clientAuthMethod: 'private_key_jwt',
          privateKey: {
            kty: 'EC',
            crv: 'P-256',
            d: 'not-a-key',
            x: 'x',
            y: 'y',
            alg: 'ES256',
            kid: 'k1',
          },
        }),
      ),
    ).rejects.toMatchObject({ code: 'OIDC_CC_CONFIGURATION_INVALID', option: 'privateKey' });
  });

  describe("what is redacted from the ID service's error answers (S83)", () => {
    const options = (method: 'client_secret_basic' | 'client_secret_post') =>
      resolveOptions({
        issuer: as.issuer,
        clientId: 'billing-1',
        clientSecret: 'p@ss w%rd',
        clientAuthMethod: method,
      });

    it.each<[string, 'client_secret_basic' | 'client_secret_post', string[]]>([
      [
        'client_secret_basic: the secret, the Basic header value and its credentials',
        'client_secret_basic',
        [
          'p@ss w%rd',
          'p%40ss+w%25rd',
          'p%40ss%20w%25rd',
          `Basic ${Buffer.from('billing-1:p%40ss+w%25rd').toString('base64')}`,
          Buffer.from('billing-1:p%40ss+w%25rd').toString('base64'),
        ],
      ],
      [
        'client_secret_post: the secret as sent',
        'client_secret_post',
        ['p@ss w%rd', 'p%40ss+w%25rd', 'p%40ss%20w%25rd'],
      ],
    ])('%s', async (_case, method, expected) => {
      expect((await createClientAuthentication(options(method))).secrets).toEqual(expected);
    });

    it('withSentCredentials adds the assertion of this request and its segments, and only to it', async () => {
      const { privateKey } = await generateKeyPair('ES256', { extractable: true });
      const auth = await createClientAuthentication(
        resolveOptions({
          issuer: as.issuer,
          clientId: 'billing',
          clientAuthMethod: 'private_key_jwt',
          privateKey: { ...(await exportJWK(privateKey)), kid: 'k1', alg: 'ES256' },
        }),
      );
      const sent = async () => {
        const request = withSentCredentials(auth);
        const body = new URLSearchParams();
        await request.authenticate(as, { client_id: 'billing' }, body, new Headers());
        const assertion = body.get('client_assertion')!;
        expect(request.secrets).toEqual([assertion, ...assertion.split('.')]);
        return assertion;
      };
      expect(await sent()).not.toBe(await sent());
      expect(auth.secrets).toEqual([]);
    });

    it.each<[string, string, string[], string]>([
      ['a secret', 'bad secret s3cret!', ['s3cret!'], 'bad secret [redacted]'],
      ['the longest form first', 'got abcdef', ['cd', 'abcdef'], 'got [redacted]'],
      ['every occurrence', 'x1 x1', ['x1'], '[redacted] [redacted]'],
      [
        'a compact JWS',
        'token eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln-_x, then',
        [],
        'token [redacted], then',
      ],
      ['a JWE', 'eyJhbGciOiJkaXIifQ..aXY.Y2lwaGVy.dGFn', [], '[redacted]'],
      ['not a word that merely contains eyJ', 'heyJoe.x', [], 'heyJoe.x'],
      ['an empty secret, ignored', 'text', [''], 'text'],
    ])('redactCredentials: %s', (_case, text, secrets, expected) => {
      expect(redactCredentials(text, secrets)).toBe(expected);
    });
  });
});

describe('client authentication with a credential read per request or signed elsewhere', () => {
  const server: oauth.AuthorizationServer = {
    issuer: 'https://id.example.com',
    token_endpoint: 'https://id.example.com/oauth/token',
  };
  const HS_SECRET = 'an-hs256-secret-of-at-least-32-bytes!!';

  async function sent(
    options: Partial<Parameters<typeof resolveOptions>[0]>,
  ): Promise<{ body: URLSearchParams; headers: Headers; secrets: readonly string[] }> {
    const base = await createClientAuthentication(
      resolveOptions({ issuer: server.issuer, clientId: 'billing', ...options }),
    );
    const one = withSentCredentials(
      await authenticationForRequest(base, new AbortController().signal),
    );
    const body = new URLSearchParams();
    const headers = new Headers();
    await one.authenticate(one.endpoint(server), { client_id: 'billing' }, body, headers);
    return { body, headers, secrets: one.secrets };
  }

  it.each<[string, Partial<Parameters<typeof resolveOptions>[0]>]>([
    ['a string secret', { clientSecret: HS_SECRET }],
    ['a secret provider', { clientSecret: async () => HS_SECRET }],
  ])('client_secret_jwt with %s: an HS256 assertion over the secret', async (_case, options) => {
    const { body, secrets } = await sent({ clientAuthMethod: 'client_secret_jwt', ...options });
    expect(body.get('client_assertion_type')).toBe(
      'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    );
    expect(body.has('client_secret')).toBe(false);
    const { payload, protectedHeader } = await jwtVerify(
      body.get('client_assertion')!,
      new TextEncoder().encode(HS_SECRET),
      { issuer: 'billing', subject: 'billing', audience: server.issuer },
    );
    expect(protectedHeader.alg).toBe('HS256');
    expect(payload.exp! - payload.iat!).toBe(60);
    expect(secrets).toContain(HS_SECRET);
    expect(secrets).toContain(body.get('client_assertion'));
  });

  it('a signer: the assertion oauth4webapi would sign, signed by the signer', async () => {
    const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const signer = {
      kid: 'kms-1',
      alg: 'ES256',
      sign: async (data: Uint8Array) =>
        nodeSign('sha256', data, { key: pair.privateKey, dsaEncoding: 'ieee-p1363' as const }),
    };
    const { body } = await sent({
      clientAuthMethod: 'private_key_jwt',
      privateKey: signer,
      clientAssertion: { audience: 'token_endpoint', explicitType: true },
    });
    const { payload, protectedHeader } = await jwtVerify(
      body.get('client_assertion')!,
      pair.publicKey,
      { issuer: 'billing', subject: 'billing', audience: server.token_endpoint },
    );
    expect(protectedHeader).toEqual({
      alg: 'ES256',
      kid: 'kms-1',
      typ: 'client-authentication+jwt',
    });
    expect(payload).toMatchObject({ jti: expect.any(String), nbf: payload.iat });
    expect(body.get('client_id')).toBe('billing');
  });

  it('a private CryptoKey (not extractable) signs the assertion', async () => {
    const pair = await generateKeyPair('PS256');
    const { body } = await sent({
      clientAuthMethod: 'private_key_jwt',
      privateKey: pair.privateKey,
    });
    const { protectedHeader } = await jwtVerify(body.get('client_assertion')!, pair.publicKey, {
      audience: server.issuer,
    });
    expect(protectedHeader.alg).toBe('PS256');
  });

  it('an assertion provider: its assertion is sent as it is, and redacted', async () => {
    const ready = `eyJhbGciOiJSUzI1NiJ9.${Buffer.from(JSON.stringify({ exp: 4e9 })).toString('base64url')}.c2ln`;
    const { body, secrets } = await sent({ clientAssertion: { get: async () => ready } });
    expect(Object.fromEntries(body)).toEqual({
      client_id: 'billing',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: ready,
    });
    expect(secrets).toContain(ready);
  });

  it('a credential read per request is not sent without being read first', async () => {
    const base = await createClientAuthentication(
      resolveOptions({ issuer: server.issuer, clientId: 'billing', clientSecret: async () => 'x' }),
    );
    expect(() =>
      base.authenticate(server, { client_id: 'billing' }, new URLSearchParams(), new Headers()),
    ).toThrow(TypeError);
    expect(base.credential?.()).toEqual({ source: 'secret-provider' });
  });
});
