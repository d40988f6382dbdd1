import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import {
  calculateJwkThumbprint,
  decodeJwt,
  decodeProtectedHeader,
  exportJWK,
  generateKeyPair,
  type JWK,
} from 'jose';
import {
  ConfigurationError,
  OidcClientCredentialsModule,
  TokenProvider,
  TokenProviderRegistry,
  type OidcClientCredentialsModuleOptions,
} from 'nest-oidc-client-credentials';
import { PATHS } from 'nest-oidc-client-credentials/testing';
import { testCacheOptions } from '../utils/shared-cache-instances.js';
import { until } from '../utils/until.js';
import { RedisTestBed } from '../utils/redis-test-bed.js';

const SECRET = 'billing-s3cret';
const INSTANCES = 3;
const CALLERS = 100;

describe('a fleet shares one DPoP key and one bound token (e2e, real Redis)', () => {
  const bed = new RedisTestBed({
    clients: { billing: { secret: SECRET } },
    dpop: { required: true },
  });
  const instances = bed.toClose;
  beforeAll(() => {
    Logger.overrideLogger(false);
  });

  async function start(options: Partial<OidcClientCredentialsModuleOptions> = {}) {
    const app = await NestFactory.createApplicationContext(
      OidcClientCredentialsModule.forRoot({
        issuer: bed.idp.issuer,
        clientId: 'billing',
        clientSecret: SECRET,
        dpop: true,
        tokenRenewal: { proactive: false },
        cache: testCacheOptions({
          stores: [instances.redisStore()],
          keyPrefix: bed.prefix,
          encryptionKey: bed.encryptionKey,
        }),
        ...options,
      }),
      { logger: false, abortOnError: false },
    );
    return instances.add(app);
  }

  /** The thumbprint of the key a proof carries. */
  const thumbprintOf = (proof: string) =>
    calculateJwkThumbprint(decodeProtectedHeader(proof).jwk as JWK);

  /** The JWK of each DPoP proof the ID service received. */
  const proofKeys = () =>
    bed.idp
      .requestsTo(PATHS.token)
      .map((request) => JSON.stringify(decodeProtectedHeader(request.headers.dpop as string).jwk));

  it(`${INSTANCES} instances × ${CALLERS} concurrent getToken(): one token request, one key, no clear private key in Redis`, async () => {
    // Started together: each one's key is made or taken while the others start.
    const apps = await Promise.all(Array.from({ length: INSTANCES }, () => start()));
    const providers = apps.map((app) => app.get(TokenProvider));
    const thumbprints = await Promise.all(providers.map((tokens) => tokens.dpopThumbprint()));
    expect(new Set(thumbprints).size).toBe(1);

    const tokens = await Promise.all(
      providers.flatMap((provider) =>
        Array.from({ length: CALLERS }, () => provider.getTokenResponse()),
      ),
    );
    expect(bed.idp.requestCount(PATHS.token)).toBe(1);
    expect(new Set(tokens.map((token) => token.accessToken)).size).toBe(1);
    expect(tokens.every((token) => token.tokenType === 'dpop')).toBe(true);
    expect(decodeJwt(tokens[0]!.accessToken).cnf).toEqual({ jkt: thumbprints[0] });

    // Each instance sends the token with proofs of that one key.
    const proofs = await Promise.all(
      providers.map((provider) =>
        provider.getAuthorizationHeaders({ method: 'GET', url: 'https://api.example/orders' }),
      ),
    );
    const jwks = proofs.map(({ dpop }) => JSON.stringify(decodeProtectedHeader(dpop!).jwk));
    expect(new Set(jwks).size).toBe(1);
    expect(proofKeys()).toEqual([jwks[0]]);

    // What an operator with redis-cli sees: sealed values only, no private key member anywhere.
    const keys = await bed.inspector.keys(bed.prefix);
    expect(keys.some((key) => key.endsWith(':dpop-key'))).toBe(true);
    const dump = await bed.inspector.dump(bed.prefix);
    expect(dump).not.toMatch(/"d"\s*:/);
    expect(dump).not.toMatch(/"kty"/);
    for (const key of keys) {
      const value = await bed.inspector.get(key);
      if (value === null || !value.startsWith('{')) continue;
      expect(JSON.stringify(JSON.parse(value))).not.toMatch(/"d"\s*:/);
    }
  });

  it('an instance started later takes the fleet key and the shared token: no request of its own', async () => {
    const first = (await start()).get(TokenProvider);
    const token = await first.getToken();
    const later = (await start()).get(TokenProvider);
    expect(await later.dpopThumbprint()).toBe(await first.dpopThumbprint());
    expect(await later.getToken()).toBe(token);
    expect(bed.idp.requestCount(PATHS.token)).toBe(1);
  });

  it('a store that lost the fleet key: an instance moves to the new one with its next token', async () => {
    const first = (await start()).get(TokenProvider);
    const old = await first.getToken();
    const oldKey = await first.dpopThumbprint();
    await bed.inspector.clear(bed.prefix); // the store was flushed
    const later = (await start()).get(TokenProvider);
    const newKey = await later.dpopThumbprint();
    expect(newKey).not.toBe(oldKey);

    // The first instance's next token is requested with the new key; while that request is out,
    // its callers still get the old token, with proofs of the key that token is bound to.
    let answer!: () => void;
    const answered = new Promise<void>((resolve) => (answer = resolve));
    bed.idp.on(PATHS.token, async () => {
      await answered;
      return undefined;
    });
    const renewed = first.getToken({ forceRefresh: true });
    await until(() => bed.idp.requestCount(PATHS.token) === 2, 'the renewal request');
    const meanwhile = await first.getAuthorizationHeaders({
      method: 'GET',
      url: 'https://api.example/',
    });
    expect(meanwhile.authorization).toBe(`DPoP ${old}`);
    expect(await thumbprintOf(meanwhile.dpop!)).toBe(oldKey);
    expect(await thumbprintOf(bed.idp.requestsTo(PATHS.token)[1]!.headers.dpop as string)).toBe(
      newKey,
    );

    answer();
    const token = await renewed;
    expect(decodeJwt(token).cnf).toEqual({ jkt: newKey });
    expect(await first.dpopThumbprint()).toBe(newKey);
    const now = await first.getAuthorizationHeaders({ method: 'GET', url: 'https://api.example/' });
    expect(await thumbprintOf(now.dpop!)).toBe(newKey);
    // And the later instance takes that token: one key, one token again.
    expect(await later.getToken()).toBe(token);
    expect(bed.idp.requestCount(PATHS.token)).toBe(2);
  });

  it('a named client has a fleet key of its own', async () => {
    const apps = await Promise.all(
      Array.from({ length: 2 }, () => start({ clients: { reports: { scope: 'reports' } } })),
    );
    const root = await Promise.all(apps.map((app) => app.get(TokenProvider).dpopThumbprint()));
    const named = await Promise.all(
      apps.map((app) => app.get(TokenProviderRegistry).get('reports').dpopThumbprint()),
    );
    expect(new Set(root).size).toBe(1);
    expect(new Set(named).size).toBe(1);
    expect(named[0]).not.toBe(root[0]);
  });

  it('a key brought by the application is never written to the store', async () => {
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    const app = await start({ dpop: { privateKey: await exportJWK(privateKey) } });
    await app.get(TokenProvider).getToken();
    expect(
      (await bed.inspector.keys(bed.prefix)).filter((key) => key.includes('dpop-key')),
    ).toEqual([]);
  });

  it.each<[string, Partial<OidcClientCredentialsModuleOptions>, string]>([
    ['the root client', {}, 'dpop'],
    [
      'a named client with dpop of its own',
      { dpop: false, clients: { reports: { dpop: true } } },
      'clients.reports.dpop',
    ],
  ])(
    'a generated key with shared stores but no cache.encryptionKey stops the start (%s)',
    async (_case, options, named) => {
      const failure = await start({
        cache: { stores: [instances.redisStore()], keyPrefix: bed.prefix },
        ...options,
      }).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(ConfigurationError);
      expect((failure as Error).message).toContain('cache.encryptionKey');
      expect((failure as Error).message).toContain(named);
    },
  );
});
