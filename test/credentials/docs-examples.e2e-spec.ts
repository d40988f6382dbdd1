import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Logger, type DynamicModule, type INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { decodeJwt, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { TokenProvider } from 'nest-oidc-client-credentials';
import { FakeIdService, PATHS } from 'nest-oidc-client-credentials/testing';
import { derToRawEcdsa, kmsSignedClient } from '../../docs/examples/credentials/kms-signer.js';
import { workloadIdentityClient } from '../../docs/examples/credentials/kubernetes-projected-token.js';
import { LocalKms } from '../../docs/examples/credentials/local-kms.js';
import { vaultBackedClient } from '../../docs/examples/credentials/vault-secret.js';
import { CapturingLogger } from '../utils/nest-http-app.js';
import { startOidcProvider, type RunningOidcProvider } from '../utils/oidc-provider.js';

// The examples of docs/credentials.md are the files under docs/examples/credentials: the page
// shows them as they are, and each one, configured as the page says, gets a token.

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const read = (path: string) => readFileSync(`${ROOT}/${path}`, 'utf8');

/** Key generation and the provider's child process, on a machine that may be busy. */
const STARTUP_TIMEOUT_MS = 60_000;

describe('docs/credentials.md shows the example files as they are', () => {
  /** The ```ts blocks of the `## heading` section, up to the next `## ` heading. */
  function tsBlocks(markdown: string, heading: string): string[] {
    const start = markdown.split('\n').indexOf(heading);
    expect(start).toBeGreaterThan(-1);
    const lines = markdown.split('\n').slice(start + 1);
    const end = lines.findIndex((line) => line.startsWith('## '));
    const section = (end === -1 ? lines : lines.slice(0, end)).join('\n');
    return [...section.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
  }
  const trimmed = (text: string) => text.replace(/\n+$/, '');

  it.each([
    [
      '## Kubernetes projected service account token',
      'docs/examples/credentials/kubernetes-projected-token.ts',
    ],
    ['## A secret from a vault', 'docs/examples/credentials/vault-secret.ts'],
    ['## A key in a KMS', 'docs/examples/credentials/kms-signer.ts'],
  ])('the "%s" section shows %s', (heading, file) => {
    const blocks = tsBlocks(read('docs/credentials.md'), heading);
    expect(blocks).toHaveLength(1);
    expect(trimmed(blocks[0]!)).toBe(trimmed(read(file)));
  });
});

describe('docs/examples/credentials (e2e)', () => {
  let op: RunningOidcProvider;
  let dir: string;
  let workloadKey: CryptoKey;
  const kms = new LocalKms();
  const apps: INestApplicationContext[] = [];
  let logs: CapturingLogger;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'oidc-cc-docs-'));
    const pair = await generateKeyPair('ES256', { extractable: true });
    workloadKey = pair.privateKey;
    kms.createKey('arn:aws:kms:eu-west-1:111122223333:key/orders');
    const kmsJwk = kms.publicJwk('arn:aws:kms:eu-west-1:111122223333:key/orders');
    op = await startOidcProvider({
      accessTokenFormat: 'jwt',
      clients: [
        {
          client_id: 'system:serviceaccount:shop:orders',
          token_endpoint_auth_method: 'private_key_jwt',
          jwks: { keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'cluster-1' }] },
        },
        {
          client_id: 'orders-kms',
          token_endpoint_auth_method: 'private_key_jwt',
          jwks: { keys: [{ ...kmsJwk, kid: 'orders-2026', alg: 'ES256' } as JWK] },
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
  });

  async function tokensOf(module: DynamicModule): Promise<TokenProvider> {
    const app = await NestFactory.createApplicationContext(module, { logger: logs });
    apps.push(app);
    return app.get(TokenProvider);
  }

  it('kubernetes-projected-token.ts: the projected token file is the client assertion', async () => {
    const file = join(dir, 'oidc-token');
    const projected = () =>
      new SignJWT({ kubernetes: { namespace: 'shop' } })
        .setProtectedHeader({ alg: 'ES256', kid: 'cluster-1' })
        .setIssuer('system:serviceaccount:shop:orders')
        .setSubject('system:serviceaccount:shop:orders')
        .setAudience(op.issuer)
        .setJti(randomBytes(12).toString('base64url'))
        .setIssuedAt()
        .setExpirationTime('1h')
        .sign(workloadKey);
    await writeFile(file, await projected());
    const tokens = await tokensOf(
      workloadIdentityClient({
        OIDC_ISSUER: op.issuer,
        OIDC_CLIENT_ID: 'system:serviceaccount:shop:orders',
        OIDC_TOKEN_FILE: file,
      }),
    );
    expect(decodeJwt(await tokens.getToken())).toMatchObject({
      client_id: 'system:serviceaccount:shop:orders',
    });
    // The kubelet rotates the file; the next token request sends the new token.
    await writeFile(file, await projected());
    await tokens.getToken({ forceRefresh: true });
    expect(tokens.status().credential).toMatchObject({ source: 'assertion-file', file });
  });

  it('kms-signer.ts: private_key_jwt signed by the KMS, DER turned into r||s', async () => {
    const tokens = await tokensOf(
      kmsSignedClient(kms, {
        OIDC_ISSUER: op.issuer,
        OIDC_CLIENT_ID: 'orders-kms',
        KMS_KEY_ID: 'arn:aws:kms:eu-west-1:111122223333:key/orders',
        OIDC_KEY_ID: 'orders-2026',
      }),
    );
    expect(decodeJwt(await tokens.getToken())).toMatchObject({ client_id: 'orders-kms' });
    expect(tokens.status().credential).toEqual({ source: 'signer' });
  });

  it.each<[string, number[], number[]]>([
    ['short r and s', [0x30, 0x06, 0x02, 0x01, 0x07, 0x02, 0x01, 0x09], [7, 9]],
    [
      'r with a leading zero (high bit set)',
      [0x30, 0x07, 0x02, 0x02, 0x00, 0x80, 0x02, 0x01, 0x01],
      [0x80, 1],
    ],
  ])('derToRawEcdsa: %s', (_case, der, [r, s]) => {
    const raw = derToRawEcdsa(Uint8Array.from(der), 32);
    expect(raw).toHaveLength(64);
    expect(raw[31]).toBe(r);
    expect(raw[63]).toBe(s);
    expect(raw.slice(0, 31).every((byte) => byte === 0)).toBe(true);
  });

  describe('vault-secret.ts', () => {
    let idp: FakeIdService;
    let vault: Server;
    let vaultAddress: string;
    const stored = { secret: 'vault-kept-secret-1' };
    const vaultReads: string[] = [];

    beforeAll(async () => {
      idp = await FakeIdService.start({ clients: { orders: { secret: stored.secret } } });
      // Vault's KV v2 read: GET /v1/<mount>/data/<path> with X-Vault-Token.
      vault = createServer((request, response) => {
        vaultReads.push(`${request.method} ${request.url}`);
        if (request.headers['x-vault-token'] !== 'hvs.test-token') {
          response.writeHead(403).end();
          return;
        }
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ data: { data: { client_secret: stored.secret } } }));
      });
      await new Promise<void>((resolve) => vault.listen(0, '127.0.0.1', resolve));
      vaultAddress = `http://127.0.0.1:${(vault.address() as AddressInfo).port}`;
    });
    afterAll(async () => {
      await idp.close();
      await new Promise((resolve) => vault.close(resolve));
    });

    it('reads the secret from Vault for each token request; a rotation is picked up', async () => {
      const tokens = await tokensOf(
        vaultBackedClient({
          OIDC_ISSUER: idp.issuer,
          OIDC_CLIENT_ID: 'orders',
          VAULT_ADDR: vaultAddress,
          VAULT_TOKEN: 'hvs.test-token',
        }),
      );
      await tokens.getToken();
      expect(vaultReads).toEqual(['GET /v1/secret/data/orders-service']);

      stored.secret = 'vault-kept-secret-2';
      idp.clients.orders!.secret = stored.secret;
      await tokens.getToken({ forceRefresh: true });
      expect(idp.requestCount(PATHS.token)).toBe(2);
      expect(logs.text()).not.toContain('vault-kept-secret');
    });
  });
});
