import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger, type INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { TerminusModule } from '@nestjs/terminus';
import {
  OidcClientCredentialsEvents,
  OidcClientCredentialsHealthIndicator,
  OidcClientCredentialsModule,
  TokenProviderRegistry,
  type OidcClientCredentialsModuleOptions,
} from 'nest-oidc-client-credentials';
import { FakeIdService, PATHS } from 'nest-oidc-client-credentials/testing';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { CapturingLogger } from '../utils/nest-http-app.js';

// Secrets and assertions read when a token is requested, against the fake ID service (which
// records every request): a rotated secret costs one request more, a broken source fails fast
// with a typed error, and no value ever reaches a log, an event or the health answer.

const OLD_SECRET = 'old-vault-secret-4f1c';
const NEW_SECRET = 'new-vault-secret-9a2e';
/** What a broken provider throws or holds: it must appear nowhere. */
const LEAK = 'leaked-credential-7d3b';

/** An unsigned JWT-shaped assertion: the library reads its `exp` only. */
function assertion(exp: number): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'RS256' })}.${part({ sub: LEAK, exp })}.c2lnbmF0dXJl`;
}

describe('credential providers (e2e)', () => {
  let idp: FakeIdService;
  let dir: string;
  let logs: CapturingLogger;
  const apps: INestApplicationContext[] = [];

  beforeAll(async () => {
    idp = await FakeIdService.start({ clients: { billing: { secret: OLD_SECRET } } });
    dir = await mkdtemp(join(tmpdir(), 'oidc-cc-providers-'));
  });
  afterAll(async () => {
    await idp.close();
    await rm(dir, { recursive: true, force: true });
    Logger.overrideLogger(new Logger());
  });
  beforeEach(() => {
    logs = new CapturingLogger();
    Logger.overrideLogger(logs);
    idp.clients.billing!.secret = OLD_SECRET;
  });
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((app) => app.close()));
    idp.reset();
  });

  async function start(options: Partial<OidcClientCredentialsModuleOptions>) {
    const app = await NestFactory.createApplicationContext(
      {
        module: class CredentialsTestModule {},
        imports: [
          TerminusModule,
          OidcClientCredentialsModule.forRoot({
            issuer: idp.issuer,
            clientId: 'billing',
            retry: { maxAttempts: 3, initialDelayMs: 1, maxDelayMs: 2 },
            ...options,
          }),
        ],
      },
      { logger: logs },
    );
    apps.push(app);
    const events: unknown[] = [];
    const bus = app.get(OidcClientCredentialsEvents);
    for (const event of ['token.fetched', 'token.renewed', 'token.failed'] as const) {
      bus.on(event, (payload) => events.push({ event, ...payload }));
    }
    return { app, registry: app.get(TokenProviderRegistry), events };
  }
  const tokenRequests = () => idp.requestCount(PATHS.token);

  /** A vault client that caches the secret: it still has the old one when the secret rotates. */
  function cachingVault() {
    const vault = { current: OLD_SECRET, cached: OLD_SECRET, reads: 0 };
    const provider = async () => {
      vault.reads += 1;
      const value = vault.cached;
      vault.cached = vault.current;
      return value;
    };
    return { vault, provider };
  }

  it.each<
    [
      string,
      (provider: () => Promise<string>) => Partial<OidcClientCredentialsModuleOptions>,
      string,
    ]
  >([
    ['the root client', (clientSecret) => ({ clientSecret }), 'default'],
    [
      'a named client',
      (clientSecret) => ({ clients: { reports: { clientId: 'billing', clientSecret } } }),
      'reports',
    ],
  ])(
    'a secret rotated behind an async provider costs exactly one extra token request (%s)',
    async (_case, options, client) => {
      const { vault, provider } = cachingVault();
      const { registry, events } = await start(options(provider));
      const tokens = registry.get(client);
      await tokens.getToken();
      expect(tokenRequests()).toBe(1);

      // The ID service and the vault rotate; the vault client's cache still has the old secret.
      idp.clients.billing!.secret = NEW_SECRET;
      vault.current = NEW_SECRET;
      await tokens.getToken({ forceRefresh: true });
      expect(tokenRequests()).toBe(3);
      expect(vault.reads).toBe(3);
      const [refused, accepted] = idp.requestsTo(PATHS.token).slice(1);
      expect(refused!.headers.authorization).toBe(basic('billing', OLD_SECRET));
      expect(accepted!.headers.authorization).toBe(basic('billing', NEW_SECRET));

      // Afterwards one request per token, as before.
      await tokens.getToken({ forceRefresh: true });
      expect(tokenRequests()).toBe(4);
      const seen = `${logs.text()}\n${JSON.stringify(events)}`;
      expect(seen).not.toContain(OLD_SECRET);
      expect(seen).not.toContain(NEW_SECRET);
      expect(tokens.status().credential).toEqual({
        source: 'secret-provider',
        readAt: expect.any(Number),
      });
    },
  );

  it('a provider that still gives the refused secret: the refusal stands, no extra request', async () => {
    const { registry } = await start({ clientSecret: async () => 'wrong-secret' });
    const error = await registry
      .get()
      .getToken()
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'OIDC_CC_TOKEN_REQUEST_FAILED', error: 'invalid_client' });
    expect(tokenRequests()).toBe(1);
  });

  it('an assertion file rotated just after the one refused: read again, one extra request', async () => {
    const registered = await generateKeyPair('ES256');
    const retired = await generateKeyPair('ES256');
    idp.clients.workload = {
      jwks: { keys: [{ ...(await exportJWK(registered.publicKey)), kid: 'k1', alg: 'ES256' }] },
    };
    const signed = (key: CryptoKey) =>
      new SignJWT({})
        .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
        .setIssuer('workload')
        .setSubject('workload')
        .setAudience(idp.issuer)
        .setJti(randomUUID())
        .setIssuedAt()
        .setExpirationTime('2m')
        .sign(key);
    const file = join(dir, 'rotated-token');
    await writeFile(file, await signed(retired.privateKey));
    // The platform writes the new token while the old one is on its way (same mtime second or not).
    let rotated = false;
    idp.on(PATHS.token, async () => {
      if (!rotated) {
        rotated = true;
        await writeFile(file, await signed(registered.privateKey));
      }
      return undefined;
    });
    const { registry } = await start({ clientId: 'workload', clientAssertion: { file } });
    await expect(registry.get().getToken()).resolves.toEqual(expect.any(String));
    expect(tokenRequests()).toBe(2);
    expect(idp.requestsTo(PATHS.token)[0]!.form.get('client_assertion')).not.toBe(
      idp.requestsTo(PATHS.token)[1]!.form.get('client_assertion'),
    );
  });

  it('health names the credential source and when it was last read, never its value', async () => {
    const { app } = await start({ clientSecret: async () => OLD_SECRET });
    const health = await app.get(OidcClientCredentialsHealthIndicator).isHealthy('oidc');
    const client = health.oidc.clients!.default!;
    expect(client).toMatchObject({
      status: 'up',
      credential: { source: 'secret-provider', lastReadAt: expect.any(String) },
    });
    expect(Date.parse(client.credential!.lastReadAt!)).toBeLessThanOrEqual(Date.now());
    expect(JSON.stringify(health)).not.toContain(OLD_SECRET);
  });

  const expiredFile = async () => {
    const file = join(dir, 'expired');
    await writeFile(file, assertion(Math.floor(Date.now() / 1000) - 30));
    return file;
  };
  const directory = async () => {
    const path = join(dir, 'a-directory');
    await mkdir(path, { recursive: true });
    return path;
  };
  it.each<[string, () => Promise<Partial<OidcClientCredentialsModuleOptions>>, string, RegExp]>([
    [
      'a secret provider that throws',
      async () => ({
        clientSecret: async () => {
          throw new Error(`vault refused token ${LEAK}`);
        },
      }),
      'provider-failed',
      /The clientSecret provider failed \(Error\)/,
    ],
    [
      'a secret provider that hangs',
      async () => ({
        clientSecret: () => new Promise<string>(() => {}),
        retry: { deadlineMs: 200 },
      }),
      'provider-timed-out',
      /gave no value within the token request's deadline/,
    ],
    [
      'a secret provider that answers an object',
      async () => ({
        clientSecret: async () => ({ secret: LEAK }) as unknown as string,
      }),
      'not-a-string',
      /gave object, not a string/,
    ],
    [
      'a secret provider that answers an empty string',
      async () => ({ clientSecret: async () => '' }),
      'empty',
      /empty string/,
    ],
    [
      'an assertion provider that throws',
      async () => ({
        clientAssertion: {
          get: async () => {
            throw new Error(LEAK);
          },
        },
      }),
      'provider-failed',
      /The clientAssertion.get provider failed/,
    ],
    [
      'a KMS signer that throws',
      async () => ({
        clientAuthMethod: 'private_key_jwt',
        privateKey: {
          kid: 'kms-1',
          alg: 'ES256',
          sign: async () => {
            throw new Error(`KMS throttled ${LEAK}`);
          },
        },
      }),
      'signing-failed',
      /privateKey: the ES256 signer failed \(Error\)/,
    ],
    [
      'a KMS signer that hangs',
      async () => ({
        clientAuthMethod: 'private_key_jwt',
        privateKey: { kid: 'kms-1', alg: 'ES256', sign: () => new Promise<Uint8Array>(() => {}) },
        retry: { deadlineMs: 200 },
      }),
      'provider-timed-out',
      /privateKey signer gave no value within the token request's deadline/,
    ],
    [
      'a KMS signer answering a DER signature',
      async () => ({
        clientAuthMethod: 'private_key_jwt',
        privateKey: { kid: 'kms-1', alg: 'ES256', sign: async () => new Uint8Array(71) },
      }),
      'signing-failed',
      /71 bytes, not the 64-byte raw r\|\|s signature/,
    ],
    [
      'a missing assertion file',
      async () => ({ clientAssertion: { file: join(dir, 'missing') } }),
      'file-missing',
      /assertion file .*missing does not exist \(ENOENT\)/,
    ],
    [
      'an unreadable assertion file',
      async () => ({ clientAssertion: { file: await directory() } }),
      'file-unreadable',
      /assertion file .*a-directory cannot be read \(EISDIR\)/,
    ],
    [
      'an expired assertion in the file',
      async () => ({ clientAssertion: { file: await expiredFile() } }),
      'assertion-expired',
      /client assertion in .*expired expired 3\d s ago/,
    ],
  ])(
    '%s: a typed error at once, nothing sent, no value logged',
    async (_case, options, reason, message) => {
      const { registry, events } = await start(await options());
      const startedAt = Date.now();
      const error = await registry
        .get()
        .getToken()
        .catch((e: unknown) => e);
      expect(Date.now() - startedAt).toBeLessThan(5_000);
      expect(error).toMatchObject({ code: 'OIDC_CC_CREDENTIAL_UNAVAILABLE', reason });
      expect((error as Error).message).toMatch(message);
      // Not retried, nothing sent, and the next call tries again at once (no cooldown).
      expect(tokenRequests()).toBe(0);
      await expect(registry.get().getToken()).rejects.toMatchObject({ reason });
      expect(events).toHaveLength(2);
      const seen = `${(error as Error).message}\n${logs.text()}\n${JSON.stringify(events)}`;
      expect(seen).not.toContain(LEAK);
      expect(seen).not.toContain('eyJ');
      expect(registry.get().status().circuit).toBe('closed');
    },
  );
});

function basic(clientId: string, secret: string): string {
  return `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`;
}
