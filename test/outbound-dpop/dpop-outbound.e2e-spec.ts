import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { Logger } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { EMPTY, firstValueFrom } from 'rxjs';
import {
  calculateJwkThumbprint,
  decodeJwt,
  decodeProtectedHeader,
  exportJWK,
  generateKeyPair,
  type JWK,
} from 'jose';
import {
  ClientCredentialsHttpService,
  ClientCredentialsRpcClient,
  ConfigurationError,
  OidcClientCredentialsModule,
  TokenProvider,
  TokenRequestError,
  type OidcClientCredentialsModuleOptions,
} from 'nest-oidc-client-credentials';
import { FakeIdService, PATHS, type FakeDpopOptions } from 'nest-oidc-client-credentials/testing';
import { startDpopApi, type DpopApi } from './dpop-api.js';
import { silent } from '../utils/silent-apps.js';

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'];

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('base64url');
}

/** The DPoP proof of a request the fake ID service received, decoded. */
function proofOf(headers: IncomingHttpHeaders) {
  const proof = headers.dpop as string;
  return { header: decodeProtectedHeader(proof), payload: decodeJwt(proof) };
}

describe('outbound DPoP (RFC 9449) (e2e)', () => {
  let api: DpopApi;
  const services: FakeIdService[] = [];
  const closers: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    Logger.overrideLogger(false);
    api = await startDpopApi();
  });
  afterAll(async () => {
    Logger.overrideLogger(new Logger());
    await api.close();
  });
  afterEach(async () => {
    api.calls.length = 0;
    api.answer = () => ({ status: 200 });
    while (closers.length > 0) await closers.pop()!();
    while (services.length > 0) await services.pop()!.close();
  });

  async function idService(dpop: FakeDpopOptions = {}) {
    const idp = await FakeIdService.start({
      clients: { billing: { secret: 's3cret' } },
      dpop,
    });
    services.push(idp);
    return idp;
  }

  async function boot(
    idp: FakeIdService,
    options: Partial<OidcClientCredentialsModuleOptions> = {},
  ) {
    const moduleRef = await Test.createTestingModule({
      imports: [
        OidcClientCredentialsModule.forRoot({
          issuer: idp.issuer,
          clientId: 'billing',
          clientSecret: 's3cret',
          dpop: true,
          ...options,
        }),
      ],
    })
      .setLogger(silent)
      .compile();
    await moduleRef.init();
    closers.push(() => moduleRef.close());
    return {
      tokens: moduleRef.get(TokenProvider),
      http: moduleRef.get(ClientCredentialsHttpService),
    };
  }

  describe('at the token endpoint', () => {
    it('each token request carries a proof: dpop+jwt, public jwk only, htm POST, htu the endpoint, iat, jti', async () => {
      const idp = await idService();
      const { tokens } = await boot(idp);
      await tokens.getToken();
      await tokens.getToken({ forceRefresh: true });
      const sent = idp.requestsTo(PATHS.token).map((request) => proofOf(request.headers));
      expect(sent).toHaveLength(2);
      for (const { header, payload } of sent) {
        expect(header).toMatchObject({ typ: 'dpop+jwt', alg: 'ES256' });
        expect(PRIVATE_MEMBERS.filter((member) => member in header.jwk!)).toEqual([]);
        expect(payload).toMatchObject({ htm: 'POST', htu: idp.url(PATHS.token) });
        expect(Math.abs((payload.iat as number) - Date.now() / 1000)).toBeLessThan(5);
        expect(payload.jti).toEqual(expect.any(String));
        expect(payload).not.toHaveProperty('ath');
        expect(payload).not.toHaveProperty('nonce');
      }
      expect(sent[0]!.payload.jti).not.toBe(sent[1]!.payload.jti);
      // One key per client: both proofs carry it.
      expect(sent[1]!.header.jwk).toEqual(sent[0]!.header.jwk);
    });

    it('the token is DPoP-bound to the client key: token_type dpop, cnf.jkt its thumbprint', async () => {
      const idp = await idService();
      const { tokens } = await boot(idp);
      const response = await tokens.getTokenResponse();
      const jkt = await tokens.dpopThumbprint();
      expect(response.tokenType).toBe('dpop');
      expect(tokens.dpopEnabled).toBe(true);
      expect(tokens.status().dpopThumbprint).toBe(jkt);
      expect(decodeJwt(response.accessToken).cnf).toEqual({ jkt });
      const sentJwk = proofOf(idp.requestsTo(PATHS.token)[0]!.headers).header.jwk!;
      expect(await calculateJwkThumbprint(sentJwk)).toBe(jkt);
      expect(await tokens.getToken()).toBe(response.accessToken);
    });

    it('use_dpop_nonce: retried once with the nonce given, which later requests carry at once', async () => {
      const idp = await idService({ requireNonce: true });
      const { tokens } = await boot(idp);
      const token = await tokens.getTokenResponse();
      expect(token.tokenType).toBe('dpop');
      const [first, second] = idp.requestsTo(PATHS.token).map((r) => proofOf(r.headers).payload);
      expect(first).not.toHaveProperty('nonce');
      expect(second).toMatchObject({ nonce: idp.dpopNonce });
      idp.reset();
      await tokens.getToken({ forceRefresh: true });
      expect(idp.requestCount(PATHS.token)).toBe(1);
      expect(proofOf(idp.requestsTo(PATHS.token)[0]!.headers).payload.nonce).toBe(idp.dpopNonce);
    });

    it('use_dpop_nonce is answered once, not twice: a second one is the refusal', async () => {
      const idp = await idService({ requireNonce: true });
      idp.on(PATHS.token, () => ({
        status: 400,
        headers: { 'dpop-nonce': idp.rotateDpopNonce() },
        body: { error: 'use_dpop_nonce', error_description: 'new nonce' },
      }));
      const { tokens } = await boot(idp);
      const failure = await tokens.getToken().catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(TokenRequestError);
      expect((failure as TokenRequestError).details.error).toBe('use_dpop_nonce');
      expect(idp.requestCount(PATHS.token)).toBe(2);
    });

    it('a bearer token answered to a DPoP request is refused, named, and not cached', async () => {
      const idp = await idService();
      idp.on(PATHS.token, () => ({
        body: { access_token: 'plain-bearer', token_type: 'Bearer', expires_in: 300 },
      }));
      const { tokens } = await boot(idp);
      const failure = await tokens.getToken().catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(TokenRequestError);
      expect(failure).toMatchObject({ code: 'OIDC_CC_TOKEN_RESPONSE_INVALID' });
      expect((failure as Error).message).toMatch(/token_type "bearer".*DPoP/);
      expect((failure as Error).message).not.toContain('plain-bearer');
      expect(tokens.status().tokenExpiresAt).toBeUndefined();
    });

    it('an ID service that refuses the proof: its invalid_dpop_proof is the error', async () => {
      const idp = await idService({ algorithms: ['EdDSA'] });
      const { tokens } = await boot(idp);
      await expect(tokens.getToken()).rejects.toMatchObject({
        code: 'OIDC_CC_TOKEN_REQUEST_FAILED',
        details: { status: 400, error: 'invalid_dpop_proof' },
      });
    });
  });

  describe('keys', () => {
    it.each<[string, () => Promise<OidcClientCredentialsModuleOptions['dpop']>, string]>([
      ['a generated ES384 key', () => Promise.resolve({ alg: 'ES384' }), 'ES384'],
      [
        'a generated Ed25519 key (RFC 9864 alg)',
        () => Promise.resolve({ alg: 'Ed25519' }),
        'Ed25519',
      ],
      [
        'a private JWK brought',
        async () => {
          const { privateKey } = await generateKeyPair('ES256', { extractable: true });
          return { privateKey: await exportJWK(privateKey) };
        },
        'ES256',
      ],
      [
        'a CryptoKey brought',
        async () => ({
          privateKey: (await generateKeyPair('EdDSA', { crv: 'Ed25519' })).privateKey,
        }),
        'EdDSA',
      ],
      [
        'a signer that keeps its key',
        async () => {
          const { privateKey, publicKey } = await generateKeyPair('ES256');
          const jwk = await exportJWK(publicKey);
          return {
            privateKey: {
              alg: 'ES256',
              jwk,
              sign: async (data: Uint8Array) =>
                new Uint8Array(
                  await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, privateKey, data),
                ),
            },
          };
        },
        'ES256',
      ],
    ])('%s signs proofs the ID service accepts', async (_case, dpop, alg) => {
      const idp = await idService({ algorithms: ['ES256', 'ES384', 'EdDSA', 'Ed25519'] });
      const { tokens } = await boot(idp, { dpop: await dpop() });
      const token = await tokens.getTokenResponse();
      expect(token.tokenType).toBe('dpop');
      const { header } = proofOf(idp.requestsTo(PATHS.token)[0]!.headers);
      expect(header.alg).toBe(alg);
      expect(decodeJwt(token.accessToken).cnf).toEqual({
        jkt: await calculateJwkThumbprint(header.jwk as JWK),
      });
    });
  });

  it.each<[string, (data: Uint8Array) => Promise<Uint8Array>, RegExp]>([
    [
      'throws',
      () => Promise.reject(new Error('KMS unavailable: arn:aws:kms:secret-key-id')),
      /ES256 signer failed \(Error\)/,
    ],
    ['answers a DER signature', () => Promise.resolve(new Uint8Array(71)), /raw r\|\|s/],
  ])(
    'a signer that %s: the token request fails with OIDC_CC_SIGNING_FAILED, nothing sent',
    async (_case, sign, message) => {
      const idp = await idService();
      const { publicKey } = await generateKeyPair('ES256', { extractable: true });
      const { tokens } = await boot(idp, {
        dpop: { privateKey: { alg: 'ES256', jwk: await exportJWK(publicKey), sign } },
      });
      const failure = await tokens.getToken().catch((error: unknown) => error);
      expect(failure).toMatchObject({ code: 'OIDC_CC_SIGNING_FAILED' });
      expect((failure as Error).message).toMatch(message);
      expect((failure as Error).message).not.toContain('arn:aws');
      expect(idp.requestCount(PATHS.token)).toBe(0);
    },
  );

  describe('calls to an API', () => {
    it('ClientCredentialsHttpService sends Authorization: DPoP and a fresh proof (htm, htu without query, iat, jti, ath)', async () => {
      const idp = await idService();
      const { tokens, http } = await boot(idp);
      await firstValueFrom(http.get(`${api.url}/orders?page=2#top`));
      await firstValueFrom(http.post(`${api.url}/orders`, { id: 1 }));
      const token = await tokens.getToken();
      expect(api.calls.map((call) => call.headers.authorization)).toEqual([
        `DPoP ${token}`,
        `DPoP ${token}`,
      ]);
      const [get, post] = api.calls.map((call) => call.proof!);
      expect(get!.header).toMatchObject({ typ: 'dpop+jwt', alg: 'ES256' });
      expect(await calculateJwkThumbprint(get!.header.jwk as JWK)).toBe(
        await tokens.dpopThumbprint(),
      );
      expect(get!.payload).toMatchObject({
        htm: 'GET',
        htu: `${api.url}/orders`,
        ath: sha256(token),
      });
      expect(post!.payload).toMatchObject({
        htm: 'POST',
        htu: `${api.url}/orders`,
        ath: sha256(token),
      });
      expect(Math.abs((get!.payload.iat as number) - Date.now() / 1000)).toBeLessThan(5);
      expect(get!.payload.jti).not.toBe(post!.payload.jti);
    });

    it.each(['get', 'post'] as const)(
      '%s: a 401 use_dpop_nonce is retried once with the nonce, which the next call carries at once',
      async (method) => {
        const idp = await idService();
        const { http } = await boot(idp);
        api.answer = (call) =>
          call.proof?.payload.nonce === 'api-nonce-1'
            ? { status: 200 }
            : {
                status: 401,
                headers: {
                  'www-authenticate':
                    'DPoP error="use_dpop_nonce", error_description="nonce", algs="ES256"',
                  'dpop-nonce': 'api-nonce-1',
                },
              };
        const response = await firstValueFrom(http[method](`${api.url}/orders`));
        expect(response.status).toBe(200);
        expect(api.calls.map((call) => call.proof!.payload.nonce)).toEqual([
          undefined,
          'api-nonce-1',
        ]);
        expect(api.calls[0]!.proof!.payload.jti).not.toBe(api.calls[1]!.proof!.payload.jti);
        await firstValueFrom(http[method](`${api.url}/orders`));
        expect(api.calls).toHaveLength(3);
        expect(api.calls[2]!.proof!.payload.nonce).toBe('api-nonce-1');
        // The token was not renewed for a nonce: one token request in all.
        expect(idp.requestCount(PATHS.token)).toBe(1);
      },
    );

    it.each([200, 400, 503])(
      'a DPoP-Nonce sent with a %s answer is carried by the next call',
      async (status) => {
        const idp = await idService();
        const { http } = await boot(idp);
        api.answer = () => ({ status, headers: { 'dpop-nonce': `next-${status}` } });
        await firstValueFrom(http.get(`${api.url}/orders`)).catch(() => undefined);
        api.answer = () => ({ status: 200 });
        await firstValueFrom(http.get(`${api.url}/orders`));
        expect(api.calls.map((call) => call.proof!.payload.nonce)).toEqual([
          undefined,
          `next-${status}`,
        ]);
      },
    );

    it('use_dpop_nonce is retried once, not twice', async () => {
      const idp = await idService();
      const { http, tokens } = await boot(idp, {
        authorizedHttp: { retryOnUnauthorized: 'never' },
      });
      let nonce = 0;
      api.answer = () => ({
        status: 401,
        headers: {
          'www-authenticate': 'DPoP error="use_dpop_nonce"',
          'dpop-nonce': `n-${(nonce += 1)}`,
        },
      });
      const failure = await firstValueFrom(http.get(`${api.url}/orders`)).catch(
        (error: unknown) => error,
      );
      expect(failure).toMatchObject({ response: { status: 401 } });
      expect(api.calls).toHaveLength(2);
      // What the caller holds (and may log) carries neither the token nor a proof.
      const { dpop } = api.calls[1]!.headers;
      const logged = JSON.stringify(failure);
      expect(logged).not.toContain(await tokens.getToken());
      expect(logged).not.toContain(dpop as string);
      expect(logged).not.toContain((dpop as string).split('.')[1]);
    });

    it('a 401 with a nonce header but another error is no nonce challenge', async () => {
      const idp = await idService();
      const { http } = await boot(idp, { authorizedHttp: { retryOnUnauthorized: 'never' } });
      api.answer = () => ({
        status: 401,
        headers: { 'www-authenticate': 'DPoP error="invalid_token"', 'dpop-nonce': 'n' },
      });
      await expect(firstValueFrom(http.get(`${api.url}/orders`))).rejects.toMatchObject({
        response: { status: 401 },
      });
      expect(api.calls).toHaveLength(1);
    });

    it('getAuthorizationHeaders builds the two headers for another HTTP client, and handleDpopNonce reads the answer', async () => {
      const idp = await idService();
      const { tokens } = await boot(idp);
      const url = `${api.url}/reports?year=2026`;
      const headers = await tokens.getAuthorizationHeaders({ method: 'delete', url });
      const token = await tokens.getToken();
      expect(headers.authorization).toBe(`DPoP ${token}`);
      expect(decodeJwt(headers.dpop!)).toMatchObject({
        htm: 'DELETE',
        htu: `${api.url}/reports`,
        ath: sha256(token),
      });
      api.answer = () => ({
        status: 401,
        headers: { 'www-authenticate': 'DPoP error="use_dpop_nonce"', 'dpop-nonce': 'fetch-nonce' },
      });
      const refused = await fetch(url, { method: 'DELETE', headers: { ...headers } });
      expect(tokens.handleDpopNonce(url, refused)).toBe(true);
      const again = await tokens.getAuthorizationHeaders({ method: 'DELETE', url });
      expect(decodeJwt(again.dpop!).nonce).toBe('fetch-nonce');
      expect(tokens.handleDpopNonce(url, { status: 200, headers: new Headers() })).toBe(false);
    });

    it('a bearer client: getAuthorizationHeaders gives Authorization: Bearer and no proof', async () => {
      const idp = await idService();
      const { tokens } = await boot(idp, { dpop: false });
      const headers = await tokens.getAuthorizationHeaders({ method: 'GET', url: api.url });
      expect(headers).toEqual({ authorization: `Bearer ${await tokens.getToken()}` });
      expect(idp.requestsTo(PATHS.token)[0]!.headers.dpop).toBeUndefined();
    });
  });

  describe('where a proof cannot go', () => {
    it('ClientCredentialsRpcClient refuses a DPoP client: a message has no method and URL to prove', async () => {
      const idp = await idService();
      const { tokens } = await boot(idp);
      const client = { send: () => EMPTY, emit: () => EMPTY };
      expect(() => new ClientCredentialsRpcClient(client, tokens, { transport: 'nats' })).toThrow(
        ConfigurationError,
      );
    });
  });
});
