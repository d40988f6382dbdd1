import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  OidcClientCredentialsModule,
  TokenVerificationError,
  TokenVerificationStrategy,
  UserinfoVerificationStrategy,
  ValidatorUnavailableError,
  type OidcClientCredentialsModuleOptions,
} from 'nest-oidc-client-credentials';
import { FakeIdService, PATHS, type FakeResponse } from 'nest-oidc-client-credentials/testing';
import { freePort } from '../../../../test/utils/ports.js';

describe('UserinfoVerificationStrategy', () => {
  let idp: FakeIdService;
  let warned: jest.SpiedFunction<Logger['warn']>;

  beforeAll(async () => {
    idp = await FakeIdService.start({ alg: 'ES256' });
  });
  afterAll(() => idp.close());
  beforeEach(() => {
    idp.reset();
    warned = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  });
  afterEach(() => jest.restoreAllMocks());

  async function strategy(
    options: Partial<OidcClientCredentialsModuleOptions> = {},
  ): Promise<UserinfoVerificationStrategy> {
    const moduleRef = await Test.createTestingModule({
      imports: [
        OidcClientCredentialsModule.forRoot({
          issuer: idp.issuer,
          ...options,
          verification: { strategy: 'userinfo', ...options.verification },
        }),
      ],
    }).compile();
    expect(moduleRef.get(TokenVerificationStrategy)).toBeInstanceOf(UserinfoVerificationStrategy);
    return moduleRef.get(UserinfoVerificationStrategy);
  }

  const answer = (response: FakeResponse) => idp.on(PATHS.userinfo, () => response);

  async function failure(promise: Promise<unknown>): Promise<Error> {
    const caught = await promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(caught).toBeInstanceOf(Error);
    return caught as Error;
  }

  async function expectInvalid(promise: Promise<unknown>): Promise<void> {
    const caught = await failure(promise);
    expect(caught).toBeInstanceOf(TokenVerificationError);
    expect((caught as TokenVerificationError).code).toBe('OIDC_CC_TOKEN_INVALID');
  }

  async function expectUnavailable(promise: Promise<unknown>): Promise<void> {
    const caught = await failure(promise);
    expect(caught).toBeInstanceOf(ValidatorUnavailableError);
    expect((caught as ValidatorUnavailableError).code).toBe('OIDC_CC_USERINFO_UNAVAILABLE');
  }

  it('a live token: GET with the bearer header, clientId = sub', async () => {
    const userinfo = await strategy();
    const token = idp.mintOpaque('billing');
    await expect(userinfo.verify(token)).resolves.toMatchObject({
      clientId: 'billing',
      subject: 'billing',
      scopes: [],
    });
    const [request] = idp.requestsTo(PATHS.userinfo);
    expect(request.method).toBe('GET');
    expect(request.headers.authorization).toBe(`Bearer ${token}`);
    expect([...request.query]).toEqual([]);
  });

  it('uses sub even when the answer carries a client_id', async () => {
    const userinfo = await strategy();
    answer({ body: { sub: 'billing', client_id: 'someone-else' } });
    await expect(userinfo.verify(idp.mintOpaque())).resolves.toMatchObject({ clientId: 'billing' });
  });

  it.each([
    ['no sub', { name: 'x' }],
    ['sub a number', { sub: 42 }],
    ['sub empty', { sub: '' }],
  ])('S65 200 JSON with %s', async (_name, body) => {
    const userinfo = await strategy();
    answer({ body });
    await expectInvalid(userinfo.verify(idp.mintOpaque()));
  });

  it('S66 an application/jwt answer is refused, never decoded', async () => {
    const userinfo = await strategy();
    const signed = await idp.mintJwt({ sub: 'billing' });
    answer({ headers: { 'content-type': 'application/jwt' }, body: signed });
    await expectInvalid(userinfo.verify(idp.mintOpaque()));
  });

  it.each([
    [401, { 'www-authenticate': 'Bearer error="invalid_token"' }],
    [403, { 'www-authenticate': 'Bearer error="insufficient_scope", scope="openid"' }],
  ])('S67 %i: invalid_token plus a one-time hint about M2M tokens', async (status, headers) => {
    const userinfo = await strategy();
    answer({ status, headers, body: '' });
    const token = idp.mintOpaque();
    await expectInvalid(userinfo.verify(token));
    await expectInvalid(userinfo.verify(idp.mintOpaque()));
    expect(warned).toHaveBeenCalledTimes(1);
    expect(String(warned.mock.calls[0][0])).toContain('openid');
    expect(String(warned.mock.calls[0][0])).not.toContain(token);
  });

  it('S67 a revoked token at the real endpoint is invalid_token', async () => {
    const userinfo = await strategy();
    const token = idp.mintOpaque();
    idp.revoke(token);
    await expectInvalid(userinfo.verify(token));
  });

  it.each([
    ['HTTP 500', { status: 500 }],
    ['HTTP 404', { status: 404, body: { error: 'not_found' } }],
    ['200 HTML', { headers: { 'content-type': 'text/html' }, body: '<html/>' }],
    ['200 invalid JSON', { headers: { 'content-type': 'application/json' }, body: '{' }],
    ['200 JSON array', { body: [{ sub: 'billing' }] }],
    ['a redirect', { status: 302, headers: { location: 'http://127.0.0.1:1/' } }],
    ['a connection reset', { reset: true }],
  ] as [string, FakeResponse][])('%s is 503, not cached', async (_name, response) => {
    const userinfo = await strategy();
    answer(response);
    const token = idp.mintOpaque();
    await expectUnavailable(userinfo.verify(token));
    await expectUnavailable(userinfo.verify(token));
    expect(idp.requestsTo(PATHS.userinfo)).toHaveLength(2);
  });

  it('an unreachable endpoint is 503', async () => {
    const userinfo = await strategy({ endpoints: { userinfo: 'http://127.0.0.1:1/userinfo' } });
    await expectUnavailable(userinfo.verify(idp.mintOpaque()));
  });

  it.each<[string, (token: string) => FakeResponse, () => string]>([
    [
      "HTTP 500 with the ID service's error",
      () => ({ status: 500, body: { error: 'server_error', error_description: 'db down' } }),
      () =>
        `Userinfo failed: GET ${idp.url(PATHS.userinfo)} answered HTTP 500 (server_error: db down)`,
    ],
    [
      'an error_description echoing the token, redacted',
      (token) => ({ status: 502, body: { error: 'bad_gateway', error_description: token } }),
      () =>
        `Userinfo failed: GET ${idp.url(PATHS.userinfo)} answered HTTP 502 (bad_gateway: [redacted])`,
    ],
    [
      '200 HTML: the content type',
      () => ({ headers: { 'content-type': 'text/html' }, body: '<html/>' }),
      () =>
        `Userinfo failed: GET ${idp.url(PATHS.userinfo)} answered HTTP 200 with text/html, not JSON`,
    ],
  ])('R34 the 503 names the cause: %s', async (_name, response, message) => {
    const userinfo = await strategy();
    const token = idp.mintOpaque();
    answer(response(token));
    const caught = await failure(userinfo.verify(token));
    expect(caught).toMatchObject({ code: 'OIDC_CC_USERINFO_UNAVAILABLE', message: message() });
  });

  it('R34 an unreachable endpoint: the errno and the URL without its query', async () => {
    const endpoint = `http://127.0.0.1:${await freePort()}/openid/userinfo`;
    const userinfo = await strategy({ endpoints: { userinfo: `${endpoint}?realm=a` } });
    const caught = await failure(userinfo.verify(idp.mintOpaque()));
    expect(caught).toMatchObject({
      code: 'OIDC_CC_USERINFO_UNAVAILABLE',
      message: `Userinfo failed: GET ${endpoint}: connection refused (ECONNREFUSED)`,
    });
  });
});
