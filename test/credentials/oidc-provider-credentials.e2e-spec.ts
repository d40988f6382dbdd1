import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { jest } from '@jest/globals';
import { Logger, type INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { decodeJwt, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import {
  OidcClientCredentialsEvents,
  OidcClientCredentialsModule,
  TokenProvider,
  type OidcClientCredentialsModuleOptions,
  type TokenFetchedEvent,
} from 'nest-oidc-client-credentials';
import { KmsSigner } from '../../docs/examples/credentials/kms-signer.js';
import { LocalKms } from '../../docs/examples/credentials/local-kms.js';
import { fakeClock } from '../utils/fake-date.js';
import { CapturingLogger } from '../utils/nest-http-app.js';
import { startOidcProvider, type RunningOidcProvider } from '../utils/oidc-provider.js';
import { until } from '../utils/until.js';

// Client credentials as production holds them, against a real OpenID Provider (oidc-provider):
// an assertion file rotated under the service, a secret from an async provider, an HS256
// assertion over the secret, and a key that signs in a KMS.

/** Long enough for HS256 (oidc-provider wants at least 32 bytes for client_secret_jwt). */
const JWT_SECRET = randomBytes(32).toString('base64url');
const LIFETIME_S = 600;

/** This host's real clock, in seconds: the provider runs on it, whatever jest fakes here. */
const realNow = () => Math.floor((performance.timeOrigin + performance.now()) / 1000);

/** Key generation and the provider's child process, on a machine that may be busy. */
const STARTUP_TIMEOUT_MS = 60_000;

describe('credentials from files, providers and KMS keys, with oidc-provider (e2e)', () => {
  let op: RunningOidcProvider;
  let dir: string;
  let assertionKey: CryptoKey;
  const kms = new LocalKms();
  const apps: INestApplicationContext[] = [];
  let logs: CapturingLogger;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'oidc-cc-credentials-'));
    const pair = await generateKeyPair('RS256', { extractable: true });
    assertionKey = pair.privateKey;
    const workloadJwk = { ...(await exportJWK(pair.publicKey)), kid: 'k8s-1', alg: 'RS256' };
    kms.createKey('orders-key');
    const kmsJwk = { ...kms.publicJwk('orders-key'), kid: 'kms-1', alg: 'ES256' } as JWK;
    op = await startOidcProvider({
      accessTokenFormat: 'jwt',
      ttlSeconds: LIFETIME_S,
      clients: [
        {
          client_id: 'workload',
          token_endpoint_auth_method: 'private_key_jwt',
          jwks: { keys: [workloadJwk] },
        },
        {
          client_id: 'hs-app',
          client_secret: JWT_SECRET,
          token_endpoint_auth_method: 'client_secret_jwt',
        },
        {
          client_id: 'kms-app',
          token_endpoint_auth_method: 'private_key_jwt',
          jwks: { keys: [kmsJwk] },
        },
      ],
    });
  }, STARTUP_TIMEOUT_MS);
  afterAll(async () => {
    await op?.close();
    await rm(dir, { recursive: true, force: true });
    Logger.overrideLogger(new Logger());
  });
  beforeEach(() => {
    logs = new CapturingLogger();
    Logger.overrideLogger(logs);
  });
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((app) => app.close()));
    jest.useRealTimers();
  });

  async function start(options: Partial<OidcClientCredentialsModuleOptions>) {
    const app = await NestFactory.createApplicationContext(
      OidcClientCredentialsModule.forRoot({
        issuer: op.issuer,
        retry: { maxAttempts: 1 },
        ...options,
      }),
      { logger: logs },
    );
    apps.push(app);
    const events: { event: string; payload: unknown }[] = [];
    const bus = app.get(OidcClientCredentialsEvents);
    for (const event of ['token.fetched', 'token.renewed', 'token.failed'] as const) {
      bus.on(event, (payload) => events.push({ event, payload }));
    }
    return { tokens: app.get(TokenProvider), events };
  }

  /**
   * A workload identity token as the platform writes it: signed by the workload's key (the
   * provider knows its public half), for the issuer, valid `lifetimeS` from `now` on the faked clock
   * as well as the real one.
   */
  function workloadToken(lifetimeS = 300): Promise<string> {
    const issuedAt = realNow();
    const expiresAt = Math.max(issuedAt, Math.floor(Date.now() / 1000)) + lifetimeS;
    return new SignJWT({})
      .setProtectedHeader({ alg: 'RS256', kid: 'k8s-1' })
      .setIssuer('workload')
      .setSubject('workload')
      .setAudience(op.issuer)
      .setJti(randomBytes(16).toString('base64url'))
      .setIssuedAt(issuedAt)
      .setExpirationTime(expiresAt)
      .sign(assertionKey);
  }

  it('an assertion file rewritten before each renewal: three renewals in a row succeed', async () => {
    fakeClock(new Date(realNow() * 1000));
    const file = join(dir, 'projected-token');
    await writeFile(file, await workloadToken());
    const { tokens, events } = await start({
      clientId: 'workload',
      clientAssertion: { file },
      tokenRenewal: { renewAfterFraction: 0.5 },
    });
    const seen = new Set([await tokens.getToken()]);
    expect(tokens.status().credential).toMatchObject({ source: 'assertion-file', file });

    for (let renewal = 1; renewal <= 3; renewal += 1) {
      // The platform rotates the token; each one is good once (the provider refuses a replayed jti),
      // and valid past the renewal point the clock is about to jump to.
      await writeFile(file, await workloadToken(2 * LIFETIME_S));
      const renewsAt = tokens.status().renewsAt!;
      await jest.advanceTimersByTimeAsync(Math.max(0, renewsAt - Date.now()));
      await until(
        () => events.filter((e) => e.event === 'token.renewed').length === renewal,
        `renewal ${renewal}`,
        30_000,
      );
      seen.add(await tokens.getToken());
    }
    expect(seen.size).toBe(4);
    expect(events.map((e) => e.event)).toEqual([
      'token.fetched',
      'token.renewed',
      'token.renewed',
      'token.renewed',
    ]);
    const renewed = events[3]!.payload as TokenFetchedEvent;
    expect(renewed.credential).toEqual({ source: 'assertion-file', readAt: expect.any(Number) });
    expect(logs.text()).not.toContain('eyJ');
  });

  it('the same assertion file, unchanged, is sent once: the replay is refused by the provider', async () => {
    // What the rewrite above is for: without a new token in the file there is no new token.
    const file = join(dir, 'stale-token');
    await writeFile(file, await workloadToken());
    const { tokens } = await start({ clientId: 'workload', clientAssertion: { file } });
    await tokens.getToken();
    const error = await tokens.getToken({ forceRefresh: true }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'OIDC_CC_TOKEN_REQUEST_FAILED', error: 'invalid_client' });
  });

  it('an expired assertion in the file: a clear error naming the file, nothing sent', async () => {
    const file = join(dir, 'expired-token');
    const expired = await new SignJWT({})
      .setProtectedHeader({ alg: 'RS256', kid: 'k8s-1' })
      .setIssuer('workload')
      .setSubject('workload')
      .setAudience(op.issuer)
      .setJti(randomBytes(16).toString('base64url'))
      .setIssuedAt(realNow() - 600)
      .setExpirationTime(realNow() - 60)
      .sign(assertionKey);
    await writeFile(file, expired);
    const { tokens, events } = await start({ clientId: 'workload', clientAssertion: { file } });
    const error = await tokens.getToken().catch((e: unknown) => e);
    expect(error).toMatchObject({
      code: 'OIDC_CC_CREDENTIAL_UNAVAILABLE',
      reason: 'assertion-expired',
      file,
    });
    expect((error as Error).message).toContain(file);
    expect(events).toEqual([
      {
        event: 'token.failed',
        payload: expect.objectContaining({
          code: 'OIDC_CC_CREDENTIAL_UNAVAILABLE',
          credential: { source: 'assertion-file', readAt: expect.any(Number) },
        }),
      },
    ]);
    expect(logs.text()).not.toContain(expired);
  });

  it('an assertion provider (clientAssertion.get) is asked before each token request', async () => {
    let asked = 0;
    const { tokens } = await start({
      clientId: 'workload',
      clientAssertion: {
        get: async () => {
          asked += 1;
          return workloadToken();
        },
      },
    });
    await tokens.getToken();
    await tokens.getToken({ forceRefresh: true });
    expect(asked).toBe(2);
    expect(tokens.status().credential).toMatchObject({ source: 'assertion-provider' });
  });

  it.each<[string, () => OidcClientCredentialsModuleOptions['clientSecret']]>([
    ['a string secret', () => JWT_SECRET],
    ['a secret from an async provider', () => async () => JWT_SECRET],
  ])('client_secret_jwt with %s', async (_case, secret) => {
    const { tokens } = await start({
      clientId: 'hs-app',
      clientAuthMethod: 'client_secret_jwt',
      clientSecret: secret(),
    });
    const token = await tokens.getToken();
    expect(decodeJwt(token)).toMatchObject({ client_id: 'hs-app', iss: op.issuer });
    // A second assertion right away is accepted too: its jti is fresh.
    await tokens.getToken({ forceRefresh: true });
    expect(logs.text()).not.toContain(JWT_SECRET);
  });

  it.each<[string, OidcClientCredentialsModuleOptions['clientAssertion']]>([
    ['aud = issuer (default)', undefined],
    [
      'aud = token endpoint, typ client-authentication+jwt',
      {
        audience: 'token_endpoint',
        explicitType: true,
      },
    ],
  ])(
    'private_key_jwt signed in a KMS (the key never leaves it), %s',
    async (_case, clientAssertion) => {
      const { tokens, events } = await start({
        clientId: 'kms-app',
        clientAuthMethod: 'private_key_jwt',
        privateKey: new KmsSigner(kms, 'orders-key', 'kms-1'),
        clientAssertion,
      });
      expect(decodeJwt(await tokens.getToken())).toMatchObject({ client_id: 'kms-app' });
      await tokens.getToken({ forceRefresh: true });
      expect(tokens.status().credential).toEqual({ source: 'signer' });
      expect((events[0]!.payload as TokenFetchedEvent).credential).toEqual({ source: 'signer' });
    },
  );
});
