import { jest } from '@jest/globals';
import { HttpService } from '@nestjs/axios';
import { Logger } from '@nestjs/common';
import axios, { isAxiosError, type AxiosError } from 'axios';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import { firstValueFrom } from 'rxjs';
import {
  ClientCredentialsHttpService,
  TokenProvider,
  TokenRequestError,
  withClientCredentials,
  type AuthorizedHttpOptions,
} from 'nest-oidc-client-credentials';
import { IssuerMetadataProvider } from '../idp/issuer-metadata.provider.js';
import { FakeIdService, PATHS } from 'nest-oidc-client-credentials/testing';
import { resolveOptions } from '../options/resolve-options.util.js';

/** A called API on loopback: records the Authorization header of every call, answers from a script. */
class Downstream {
  readonly calls: { method: string; authorization?: string }[] = [];
  private statuses: number[] = [];
  private readonly refused = new Set<string>();
  private refusingAll = false;

  private constructor(private readonly server: Server) {}

  static async start(): Promise<Downstream> {
    const server = createServer();
    const downstream = new Downstream(server);
    server.on('request', (req, res) => {
      req.resume();
      req.on('end', () => {
        downstream.calls.push({ method: req.method!, authorization: req.headers.authorization });
        const refused =
          downstream.refusingAll || downstream.refused.has(req.headers.authorization ?? '');
        const status = refused ? 401 : (downstream.statuses.shift() ?? 200);
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ status }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return downstream;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/orders`;
  }

  /** The next calls answer with these statuses, then 200. */
  answer(...statuses: number[]): void {
    this.statuses = statuses;
  }

  /** Answers 401 to every call that carries this token (as if it were revoked). */
  refuse(token: string): void {
    this.refused.add(`Bearer ${token}`);
  }

  /** Answers 401 to every call (as an API configured for another audience would). */
  refuseAll(): void {
    this.refusingAll = true;
  }

  reset(): void {
    this.calls.length = 0;
    this.statuses = [];
    this.refused.clear();
    this.refusingAll = false;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

describe('ClientCredentialsHttpService', () => {
  let idp: FakeIdService;
  let api: Downstream;

  beforeAll(async () => {
    Logger.overrideLogger(false);
    idp = await FakeIdService.start({ tokenFormat: 'opaque' });
    api = await Downstream.start();
  });
  afterAll(async () => {
    Logger.overrideLogger(new Logger());
    await Promise.all([idp.close(), api.close()]);
  });
  afterEach(() => {
    idp.reset();
    api.reset();
  });

  function tokenProvider(): TokenProvider {
    const resolved = resolveOptions({
      issuer: idp.issuer,
      endpoints: { token: idp.url(PATHS.token) },
      clientId: 'test-client',
      clientSecret: 'test-secret',
      retry: { maxAttempts: 1 },
    });
    return new TokenProvider(resolved, new IssuerMetadataProvider(resolved));
  }
  const http = (options?: AuthorizedHttpOptions) =>
    new ClientCredentialsHttpService(tokenProvider(), options);
  const tokenRequests = () => idp.requestsTo(PATHS.token);
  const bearer = (i: number) => /^Bearer (.+)$/.exec(api.calls[i].authorization ?? '')?.[1];
  const status = (request: Promise<unknown>) =>
    request.then(
      () => 200,
      (error: AxiosError) => error.response?.status,
    );

  it('sends the cached token as a Bearer header with every request', async () => {
    const client = http();
    await firstValueFrom(client.get(api.url));
    await firstValueFrom(client.post(api.url, { id: 1 }));
    expect(api.calls).toHaveLength(2);
    expect(bearer(0)).toEqual(expect.any(String));
    expect(bearer(1)).toBe(bearer(0));
    expect(tokenRequests()).toHaveLength(1);
  });

  it("leaves a caller's own Authorization header alone, and never retries it", async () => {
    api.answer(401);
    const client = http();
    const result = status(
      firstValueFrom(client.get(api.url, { headers: { Authorization: 'Basic abc' } })),
    );
    await expect(result).resolves.toBe(401);
    expect(api.calls).toEqual([{ method: 'GET', authorization: 'Basic abc' }]);
    expect(tokenRequests()).toHaveLength(0);
  });

  it('R09 401 then 200: renews the token and repeats the call once', async () => {
    const client = http();
    await firstValueFrom(client.get(api.url));
    api.answer(401);
    const response = await firstValueFrom(client.get(api.url));
    expect(response.status).toBe(200);
    expect(api.calls).toHaveLength(3);
    expect(bearer(1)).toBe(bearer(0));
    expect(bearer(2)).not.toBe(bearer(1));
    expect(tokenRequests()).toHaveLength(2);
    await firstValueFrom(client.get(api.url));
    expect(bearer(3)).toBe(bearer(2));
  });

  it('R09 401 twice: exactly two calls, the second 401 is returned as is', async () => {
    api.answer(401, 401);
    await expect(status(firstValueFrom(http().get(api.url)))).resolves.toBe(401);
    expect(api.calls).toHaveLength(2);
    expect(bearer(1)).not.toBe(bearer(0));
  });

  it('R09 a caller accepting 401 (validateStatus) gets the same single retry', async () => {
    api.answer(401, 401);
    const response = await firstValueFrom(http().get(api.url, { validateStatus: () => true }));
    expect(response.status).toBe(401);
    expect(api.calls).toHaveLength(2);
  });

  it.each<[string, AuthorizedHttpOptions | undefined, 'get' | 'post' | 'delete', number]>([
    ['POST is not retried by default', undefined, 'post', 1],
    ['DELETE is retried by default', undefined, 'delete', 2],
    ["POST is retried with 'all'", { retryOnUnauthorized: 'all' }, 'post', 2],
    ["GET is not retried with 'never'", { retryOnUnauthorized: 'never' }, 'get', 1],
  ])('%s', async (_case, options, method, calls) => {
    api.answer(401, 401);
    const client = http(options);
    const request = method === 'post' ? client.post(api.url, { id: 1 }) : client[method](api.url);
    await expect(status(firstValueFrom(request))).resolves.toBe(401);
    expect(api.calls).toHaveLength(calls);
  });

  it('many concurrent 401s for the same token cause one renewal', async () => {
    const client = http();
    await firstValueFrom(client.get(api.url));
    api.refuse(bearer(0)!);
    const responses = await Promise.all(
      Array.from({ length: 20 }, () => firstValueFrom(client.get(api.url))),
    );
    expect(responses.every((r) => r.status === 200)).toBe(true);
    expect(tokenRequests()).toHaveLength(2);
    expect(api.calls).toHaveLength(41);
    expect(new Set(api.calls.map((c) => c.authorization)).size).toBe(2);
  });

  it('an API that refuses every token costs one renewal per 30 s, not one per call', async () => {
    const client = http();
    await firstValueFrom(client.get(api.url));
    api.refuseAll();
    for (let i = 0; i < 5; i += 1) {
      await expect(status(firstValueFrom(client.get(api.url)))).resolves.toBe(401);
    }
    expect(tokenRequests()).toHaveLength(2);
    // The first refused call is repeated once with the renewed token; the others are not repeated
    // with the same token, which would be refused again.
    expect(api.calls).toHaveLength(1 + 2 + 4);
    const later = Date.now() + 30_001;
    const clock = jest.spyOn(Date, 'now').mockImplementation(() => later);
    try {
      await expect(status(firstValueFrom(client.get(api.url)))).resolves.toBe(401);
    } finally {
      clock.mockRestore();
    }
    expect(tokenRequests()).toHaveLength(3);
    // A clock set back does not make the wait longer.
    const earlier = Date.now() - 3_600_000;
    const back = jest.spyOn(Date, 'now').mockImplementation(() => earlier);
    try {
      await expect(status(firstValueFrom(client.get(api.url)))).resolves.toBe(401);
    } finally {
      back.mockRestore();
    }
    expect(tokenRequests()).toHaveLength(4);
  });

  describe('RFC 6750 §5.3: the token goes over TLS only', () => {
    // 0.0.0.0 reaches this machine on Linux, yet is not a loopback name: it stands for any host.
    const offLoopback = () => api.url.replace('127.0.0.1', '0.0.0.0');

    it.each([
      ['http:// to a host that is not loopback', offLoopback],
      ['another scheme', () => api.url.replace('http:', 'ftp:')],
      ['a relative URL without baseURL', () => '/orders'],
    ])('%s: refused before a token is fetched or sent', async (_case, url) => {
      const error = await firstValueFrom(http().get(url())).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'OIDC_CC_INSECURE_REQUEST' });
      expect(tokenRequests()).toHaveLength(0);
      expect(api.calls).toHaveLength(0);
    });

    it('allowInsecureHttp lets it through (development)', async () => {
      const response = await firstValueFrom(http({ allowInsecureHttp: true }).get(offLoopback()));
      expect(response.status).toBe(200);
      expect(bearer(0)).toEqual(expect.any(String));
    });

    it("a request with the caller's own Authorization header is not this module's to refuse", async () => {
      const response = await firstValueFrom(
        http().get(offLoopback(), { headers: { Authorization: 'Basic abc' } }),
      );
      expect(response.status).toBe(200);
      expect(tokenRequests()).toHaveLength(0);
    });
  });

  it('a failing token endpoint fails the call with the typed error; the API is not called', async () => {
    idp.on(PATHS.token, () => ({ status: 401, body: { error: 'invalid_client' } }));
    const error = await firstValueFrom(http().get(api.url)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TokenRequestError);
    expect(error).toMatchObject({ code: 'OIDC_CC_TOKEN_REQUEST_FAILED', error: 'invalid_client' });
    expect(api.calls).toHaveLength(0);
  });

  describe('what reaches the caller does not show the token', () => {
    // What users do with a failed call: log it, serialise it, hand it to an error reporter.
    const renderings: [string, (value: unknown) => string][] = [
      ['util.inspect (console.log)', (value) => inspect(value, { depth: 6 })],
      ['JSON.stringify (toJSON)', (value) => JSON.stringify(value)],
    ];

    it.each(renderings)('an AxiosError (500) through %s', async (_case, render) => {
      api.answer(500);
      const error = await firstValueFrom(http().get(api.url)).catch((e: unknown) => e);
      expect(isAxiosError(error)).toBe(true);
      expect((error as AxiosError).response?.status).toBe(500);
      const token = bearer(0)!;
      expect(token).toEqual(expect.any(String));
      expect(render(error)).not.toContain(token);
    });

    it.each(renderings)('a 401 after the one retry, through %s', async (_case, render) => {
      api.answer(401, 401);
      const error = await firstValueFrom(http().get(api.url)).catch((e: unknown) => e);
      expect((error as AxiosError).response?.status).toBe(401);
      expect(render(error)).not.toContain(bearer(0)!);
      expect(render(error)).not.toContain(bearer(1)!);
    });

    it.each(renderings)('a successful response through %s', async (_case, render) => {
      const response = await firstValueFrom(http().get(api.url));
      expect(response.data).toEqual({ status: 200 });
      expect(render({ config: response.config, headers: response.headers })).not.toContain(
        bearer(0)!,
      );
      expect(inspect(response, { depth: 3 })).not.toContain(bearer(0)!);
    });

    it('the Node request stays reachable for callers that read it', async () => {
      api.answer(500);
      const error = (await firstValueFrom(http().get(api.url)).catch(
        (e: unknown) => e,
      )) as AxiosError;
      expect(error.request).toBeDefined();
      expect(Object.keys(error)).not.toContain('request');
    });

    it('sending the config of a failed call again attaches the current token afresh', async () => {
      // What retry helpers such as axios-retry do: the same config, through the same instance.
      const tokens = tokenProvider();
      const { axiosRef } = new ClientCredentialsHttpService(tokens);
      api.answer(503);
      const error = (await axiosRef.get(api.url).catch((e: unknown) => e)) as AxiosError;
      expect(error.response?.status).toBe(503);
      const renewed = await tokens.getToken({ forceRefresh: true });
      const again = await axiosRef.request(error.config!);
      expect(again.status).toBe(200);
      expect(api.calls).toHaveLength(2);
      expect(bearer(1)).not.toBe(bearer(0));
      expect(bearer(1)).toBe(renewed);
    });

    it('an error whose config an earlier interceptor removed: the response’s config is cleaned', async () => {
      const own = new HttpService(axios.create());
      own.axiosRef.interceptors.response.use(undefined, (error: AxiosError) => {
        delete error.config;
        return Promise.reject(error);
      });
      withClientCredentials(own, tokenProvider());
      api.answer(500);
      const error = await firstValueFrom(own.get(api.url)).catch((e: unknown) => e);
      expect((error as AxiosError).response?.status).toBe(500);
      expect(inspect(error, { depth: 6 })).not.toContain(bearer(0)!);
    });

    it("a caller's own Authorization header is left in place", async () => {
      api.answer(500);
      const error = (await firstValueFrom(
        http().get(api.url, { headers: { Authorization: 'Basic abc' } }),
      ).catch((e: unknown) => e)) as AxiosError;
      expect(error.config?.headers.Authorization).toBe('Basic abc');
    });
  });

  describe('withClientCredentials', () => {
    it("adds the same behaviour to a user's own HttpService", async () => {
      const own = withClientCredentials(new HttpService(axios.create()), tokenProvider());
      api.answer(401);
      const response = await firstValueFrom(own.get(api.url));
      expect(response.status).toBe(200);
      expect(api.calls).toHaveLength(2);
      expect(bearer(0)).toEqual(expect.any(String));
    });

    it('installs once even when applied twice', async () => {
      const own = new HttpService(axios.create());
      withClientCredentials(own, tokenProvider());
      withClientCredentials(own, tokenProvider());
      await firstValueFrom(own.get(api.url));
      expect(tokenRequests()).toHaveLength(1);
    });

    it('refuses the process-wide axios instance (tokens would go with every axios call)', () => {
      expect(() => withClientCredentials(new HttpService(), tokenProvider())).toThrow(
        expect.objectContaining({ code: 'OIDC_CC_CONFIGURATION_INVALID', option: 'httpService' }),
      );
      expect(axios.interceptors.request).toBeDefined();
    });
  });
});
