import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  DiscoveryError,
  OidcClientCredentialsModule,
  type OidcClientCredentialsModuleOptions,
} from 'nest-oidc-client-credentials';
import { FakeIdService, PATHS, type FakeResponse } from 'nest-oidc-client-credentials/testing';
import { fakeDateOnly } from '../../../../test/utils/fake-date.js';
import { freePort } from '../../../../test/utils/ports.js';
import {
  DISCOVERY_MAX_AGE_MS,
  IssuerMetadataProvider,
  REDISCOVERY_COOLDOWN_MS,
} from './issuer-metadata.provider.js';

// What a failed discovery says, how it is retried, and when known metadata is fetched again.

const WELL_KNOWN = '/.well-known/openid-configuration';

describe('IssuerMetadataProvider: failures that explain themselves, retries and refresh', () => {
  let idp: FakeIdService;
  let warn: jest.SpiedFunction<Logger['warn']>;

  beforeAll(async () => {
    idp = await FakeIdService.start({ alg: 'ES256' });
  });
  afterAll(() => idp.close());
  beforeEach(() => {
    warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
  });
  afterEach(() => {
    jest.useRealTimers();
    jest.restoreAllMocks();
    idp.reset();
  });

  async function metadataProvider(options: Partial<OidcClientCredentialsModuleOptions> = {}) {
    const moduleRef = await Test.createTestingModule({
      imports: [
        OidcClientCredentialsModule.forRoot({
          issuer: idp.issuer,
          ...options,
          retry: { initialDelayMs: 1, maxDelayMs: 5, ...options.retry },
        }),
      ],
    }).compile();
    return moduleRef.get(IssuerMetadataProvider);
  }

  const discoveries = () => idp.requestsTo(PATHS.discovery).length;
  const advance = (ms: number) => jest.setSystemTime(Date.now() + ms);
  /** Answers discovery from a script, then falls through to the real document. */
  const script = (...answers: FakeResponse[]) => idp.on(PATHS.discovery, () => answers.shift());

  async function discoveryFailure(
    metadata: IssuerMetadataProvider,
  ): Promise<DiscoveryError | undefined> {
    return metadata.discover().then(
      () => undefined,
      (error: unknown) => {
        expect(error).toBeInstanceOf(DiscoveryError);
        return error as DiscoveryError;
      },
    );
  }

  describe('R34 a failed discovery names the URL fetched and why', () => {
    it.each<[string, () => Promise<Partial<OidcClientCredentialsModuleOptions>>, () => string]>([
      [
        'wrong-issuer-path: 404 and the path actually fetched',
        async () => ({ issuer: `${idp.issuer}/openid` }),
        () =>
          `Discovery failed: GET ${idp.issuer}/openid${WELL_KNOWN} answered HTTP 404 (not_found; expected 200 with the ID service's metadata; is "issuer" right?); GET ${idp.issuer}/.well-known/oauth-authorization-server/openid (RFC 8414) answered HTTP 404 too`,
      ],
      [
        'issuer-mismatch: the configured and the discovered value',
        async () => {
          idp.on(PATHS.discovery, () => ({ body: { issuer: `${idp.issuer}/` } }));
          return {};
        },
        () =>
          `Discovery failed: GET ${idp.issuer}${WELL_KNOWN} names the issuer "${idp.issuer}/", but the configured issuer is "${idp.issuer}"; they must be identical`,
      ],
      [
        'issuer-missing',
        async () => {
          idp.on(PATHS.discovery, () => ({ body: { token_endpoint: idp.url(PATHS.token) } }));
          return {};
        },
        () =>
          `Discovery failed: GET ${idp.issuer}${WELL_KNOWN} answered invalid metadata: response body issuer property must be a string`,
      ],
      [
        'html-page: the content type',
        async () => {
          idp.on(PATHS.discovery, () => ({
            headers: { 'content-type': 'text/html; charset=utf-8' },
            body: '<html>login</html>',
          }));
          return {};
        },
        () =>
          `Discovery failed: GET ${idp.issuer}${WELL_KNOWN} answered HTTP 200 with text/html, not JSON metadata`,
      ],
      [
        'redirect: not followed',
        async () => {
          idp.on(PATHS.discovery, () => ({ status: 302, headers: { location: '/elsewhere' } }));
          return {};
        },
        () =>
          `Discovery failed: GET ${idp.issuer}${WELL_KNOWN} answered HTTP 302 (a redirect, which is not followed)`,
      ],
      [
        "server-error: the status and the ID service's error",
        async () => {
          idp.on(PATHS.discovery, () => ({
            status: 503,
            body: { error: 'temporarily_unavailable', error_description: 'maintenance' },
          }));
          return { retry: { maxAttempts: 1 } };
        },
        () =>
          `Discovery failed: GET ${idp.issuer}${WELL_KNOWN} answered HTTP 503 (temporarily_unavailable: maintenance; expected 200 with the ID service's metadata)`,
      ],
      [
        'timeout: http.timeoutMs',
        async () => {
          idp.on(PATHS.discovery, () => ({ hang: true }));
          return { http: { timeoutMs: 100 }, retry: { maxAttempts: 1 } };
        },
        () =>
          `Discovery failed: GET ${idp.issuer}${WELL_KNOWN}: no answer within 100 ms (http.timeoutMs)`,
      ],
      [
        'refused-endpoint: a discovered http:// endpoint off loopback',
        async () => {
          idp.on(PATHS.discovery, () => ({
            body: { issuer: idp.issuer, token_endpoint: 'http://id.example.com/token?x=1' },
          }));
          return {};
        },
        () =>
          `Discovery failed: GET ${idp.issuer}${WELL_KNOWN} names a token_endpoint that is refused: http:// is accepted only for loopback hosts; use https:// or set allowInsecureHttp for development`,
      ],
    ])('%s', async (_case, arrange, expected) => {
      const metadata = await metadataProvider(await arrange());
      const error = await discoveryFailure(metadata);
      expect(error?.message).toBe(expected());
      expect(error?.code).toBe('OIDC_CC_DISCOVERY_FAILED');
    });

    it('unreachable: the errno, not "fetch failed"', async () => {
      const issuer = `http://127.0.0.1:${await freePort()}`;
      const metadata = await metadataProvider({ issuer, retry: { maxAttempts: 1 } });
      const error = await discoveryFailure(metadata);
      expect(error?.message).toBe(
        `Discovery failed: GET ${issuer}${WELL_KNOWN}: connection refused (ECONNREFUSED)`,
      );
    });
  });

  describe('R35 transient failures are retried within retry.maxAttempts', () => {
    it.each<[string, FakeResponse]>([
      ['500', { status: 500, body: { error: 'server_error' } }],
      ['502 html', { status: 502, headers: { 'content-type': 'text/html' }, body: '<h1>x</h1>' }],
      ['503', { status: 503 }],
      ['408', { status: 408 }],
      ['429', { status: 429, body: { error: 'slow_down' } }],
      ['connection reset', { reset: true }],
    ])('%s, then the document: one call succeeds after two requests', async (_case, failure) => {
      script(failure);
      const metadata = await metadataProvider();
      await expect(metadata.require('token_endpoint')).resolves.toMatchObject({
        token_endpoint: idp.url(PATHS.token),
      });
      expect(discoveries()).toBe(2);
    });

    it.each<[string, FakeResponse]>([
      ['404', { status: 404 }],
      ['issuer mismatch', { body: { issuer: 'http://127.0.0.2:1' } }],
      ['200 html', { headers: { 'content-type': 'text/html' }, body: '<html></html>' }],
      ['redirect', { status: 307, headers: { location: '/elsewhere' } }],
    ])('%s is final: one request', async (_case, failure) => {
      script(failure);
      const metadata = await metadataProvider();
      await expect(metadata.require('token_endpoint')).rejects.toBeInstanceOf(DiscoveryError);
      expect(discoveries()).toBe(1);
    });

    it('gives up after maxAttempts with the last failure', async () => {
      idp.on(PATHS.discovery, () => ({ status: 502 }));
      const metadata = await metadataProvider({ retry: { maxAttempts: 4 } });
      await expect(metadata.require('token_endpoint')).rejects.toMatchObject({
        message: expect.stringContaining('answered HTTP 502'),
      });
      expect(discoveries()).toBe(4);
    });

    it('gives up when a Retry-After reaches past retry.deadlineMs', async () => {
      idp.on(PATHS.discovery, () => ({ status: 503, headers: { 'retry-after': '60' } }));
      const metadata = await metadataProvider({ retry: { deadlineMs: 5000 } });
      await expect(metadata.require('token_endpoint')).rejects.toBeInstanceOf(DiscoveryError);
      expect(discoveries()).toBe(1);
    });

    it('concurrent callers share one discovery, its retries included', async () => {
      script({ status: 503 });
      const metadata = await metadataProvider();
      const results = await Promise.all(
        Array.from({ length: 20 }, () => metadata.require('jwks_uri')),
      );
      expect(new Set(results.map((as) => as.jwks_uri))).toEqual(new Set([idp.url(PATHS.jwks)]));
      expect(discoveries()).toBe(2);
    });
  });

  describe('R35 known metadata is fetched again', () => {
    /** The discovery document with the JWKS published at another path. */
    const movedJwks = () => ({
      body: {
        issuer: idp.issuer,
        token_endpoint: idp.url(PATHS.token),
        jwks_uri: idp.url('/keys/v2'),
      },
    });

    it('after DISCOVERY_MAX_AGE_MS, and the new endpoints are used', async () => {
      fakeDateOnly();
      const metadata = await metadataProvider();
      await metadata.require('jwks_uri');
      idp.on(PATHS.discovery, movedJwks);
      advance(DISCOVERY_MAX_AGE_MS - 1000);
      await expect(metadata.require('jwks_uri')).resolves.toMatchObject({
        jwks_uri: idp.url(PATHS.jwks),
      });
      expect(discoveries()).toBe(1);
      advance(1000);
      await expect(metadata.require('jwks_uri')).resolves.toMatchObject({
        jwks_uri: idp.url('/keys/v2'),
      });
      expect(discoveries()).toBe(2);
    });

    it('a failed refresh keeps the known metadata (warned once) and waits a cooldown', async () => {
      fakeDateOnly();
      const metadata = await metadataProvider();
      await metadata.require('jwks_uri');
      idp.on(PATHS.discovery, () => ({ status: 503 }));
      advance(DISCOVERY_MAX_AGE_MS);
      const lookups = Array.from({ length: 5 }, () => metadata.require('jwks_uri'));
      for (const lookup of await Promise.all(lookups)) {
        expect(lookup.jwks_uri).toBe(idp.url(PATHS.jwks));
      }
      // One attempt per refresh: the known metadata is the fallback, no one waits for retries.
      expect(discoveries()).toBe(2);
      advance(REDISCOVERY_COOLDOWN_MS - 1000);
      await metadata.require('jwks_uri');
      expect(discoveries()).toBe(2);
      advance(1000);
      await metadata.require('jwks_uri');
      expect(discoveries()).toBe(3);
      expect(warn).toHaveBeenCalledTimes(1);
      expect(String(warn.mock.calls[0][0])).toBe(
        `Discovery failed: GET ${idp.issuer}${WELL_KNOWN} answered HTTP 503 (expected 200 with the ID service's metadata); the metadata fetched before stays in use, next attempt in 30 s at the earliest`,
      );
    });

    it('after a discovered endpoint looked gone, at most once per cooldown', async () => {
      fakeDateOnly();
      const metadata = await metadataProvider();
      await metadata.require('jwks_uri');
      idp.on(PATHS.discovery, movedJwks);
      advance(REDISCOVERY_COOLDOWN_MS - 1000);
      metadata.reportEndpointFailure('jwks_uri');
      await expect(metadata.require('jwks_uri')).resolves.toMatchObject({
        jwks_uri: idp.url(PATHS.jwks),
      });
      expect(discoveries()).toBe(1);
      advance(1000);
      await expect(metadata.require('jwks_uri')).resolves.toMatchObject({
        jwks_uri: idp.url('/keys/v2'),
      });
      expect(discoveries()).toBe(2);
      // Reported again right after: the cooldown since that discovery holds it back.
      metadata.reportEndpointFailure('jwks_uri');
      advance(REDISCOVERY_COOLDOWN_MS - 1000);
      await metadata.require('jwks_uri');
      expect(discoveries()).toBe(2);
    });

    it('an explicit endpoint failing does not cause a discovery', async () => {
      fakeDateOnly();
      const metadata = await metadataProvider({ endpoints: { jwks: idp.url('/keys') } });
      await metadata.require('token_endpoint');
      advance(REDISCOVERY_COOLDOWN_MS);
      metadata.reportEndpointFailure('jwks_uri');
      await metadata.require('token_endpoint');
      expect(discoveries()).toBe(1);
    });
  });
});
