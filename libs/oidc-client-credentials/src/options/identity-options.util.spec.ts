import { Logger } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import {
  ConfigurationError,
  OidcClientCredentialsModule,
  TokenProvider,
  TokenVerificationStrategy,
  type OidcClientCredentialsModuleOptions,
} from 'nest-oidc-client-credentials';
import { FakeIdService, PATHS } from 'nest-oidc-client-credentials/testing';
import { hasAnyClientCredential } from './identity-options.util.js';
import { resolveOptions } from './resolve-options.util.js';

const SECRET = 'orders-S3CRET';

describe('outbound credentials at startup', () => {
  let idp: FakeIdService;
  let privateKey: JWK;
  const modules: TestingModule[] = [];

  beforeAll(async () => {
    Logger.overrideLogger(false);
    idp = await FakeIdService.start({ clients: { orders: { secret: SECRET } } });
    const { privateKey: key } = await generateKeyPair('ES256', { extractable: true });
    privateKey = { ...(await exportJWK(key)), kid: 'k1', alg: 'ES256' };
  });
  afterAll(async () => {
    Logger.overrideLogger(new Logger());
    await idp.close();
  });
  afterEach(async () => {
    await Promise.all(modules.splice(0).map((moduleRef) => moduleRef.close()));
    idp.reset();
  });

  async function boot(options: Partial<OidcClientCredentialsModuleOptions>) {
    const moduleRef = await Test.createTestingModule({
      imports: [
        OidcClientCredentialsModule.forRoot({
          issuer: idp.issuer,
          verification: { strategy: 'jwt' },
          ...options,
        }),
      ],
    }).compile();
    modules.push(moduleRef);
    await moduleRef.init();
    return moduleRef;
  }

  it.each<[string, string, Partial<OidcClientCredentialsModuleOptions>]>([
    ['a clientId alone (client_secret_basic)', 'clientSecret', { clientId: 'orders' }],
    [
      'a clientId alone (client_secret_post)',
      'clientSecret',
      { clientId: 'orders', clientAuthMethod: 'client_secret_post' },
    ],
    [
      'a clientId alone (private_key_jwt)',
      'privateKey',
      { clientId: 'orders', clientAuthMethod: 'private_key_jwt' },
    ],
    ['no client options at all', 'clientId', {}],
  ])(
    '%s: an inbound-only service boots and verifies JWTs; getToken() names the missing %s',
    async (_case, option, options) => {
      const moduleRef = await boot(options);
      const verified = await moduleRef
        .get(TokenVerificationStrategy)
        .verify(await idp.mintJwt({ sub: 'billing', client_id: 'billing' }));
      expect(verified).toMatchObject({ clientId: 'billing' });

      const tokens = moduleRef.get(TokenProvider);
      const error = await tokens.getToken().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConfigurationError);
      expect(error).toMatchObject({ code: 'OIDC_CC_CONFIGURATION_INVALID', option });
      expect(tokens.status().configured).toBe(false);
      expect(idp.requestsTo(PATHS.token)).toHaveLength(0);
    },
  );

  it.each<[string, string, string, () => Partial<OidcClientCredentialsModuleOptions>]>([
    ['a secret without clientId', 'clientId', 'required', () => ({ clientSecret: SECRET })],
    [
      'a private key without clientId',
      'clientId',
      'required',
      () => ({ clientAuthMethod: 'private_key_jwt', privateKey }),
    ],
    [
      'a private key without clientAuthMethod private_key_jwt',
      'clientSecret',
      "clientAuthMethod: 'private_key_jwt'",
      () => ({ clientId: 'orders', privateKey }),
    ],
  ])('%s fails at startup, naming %s', async (_case, option, hint, options) => {
    const error = await boot(options()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error).toMatchObject({ code: 'OIDC_CC_CONFIGURATION_INVALID', option });
    expect((error as Error).message).toContain(hint);
    expect((error as Error).message).not.toContain(SECRET);
    expect(idp.requestsTo(PATHS.token)).toHaveLength(0);
  });
});

describe('hasAnyClientCredential', () => {
  const ISSUER = 'https://id.example.com';
  const key = { kty: 'EC', crv: 'P-256', x: 'x', y: 'y', d: 'd', kid: 'k1', alg: 'ES256' };
  it.each<[string, boolean, Partial<OidcClientCredentialsModuleOptions>]>([
    ['nothing', false, {}],
    ['a clientId alone', false, { clientId: 'orders' }],
    ['a clientId and a secret', true, { clientId: 'orders', clientSecret: SECRET }],
    ['a secret alone', true, { clientSecret: SECRET }],
    ['a private key alone', true, { clientAuthMethod: 'private_key_jwt', privateKey: key }],
  ])('%s: %s', (_case, expected, options) => {
    expect(hasAnyClientCredential(resolveOptions({ issuer: ISSUER, ...options }))).toBe(expected);
  });
});

describe('credential sources in the options', () => {
  const ISSUER = 'https://id.example.com';
  const key = { kty: 'EC', crv: 'P-256', x: 'x', y: 'y', d: 'd', kid: 'k1', alg: 'ES256' };
  const provider = async () => SECRET;
  const signer = { kid: 'kms-1', alg: 'ES256', sign: async () => new Uint8Array(64) };
  const resolve = (options: Partial<OidcClientCredentialsModuleOptions>) =>
    resolveOptions({ issuer: ISSUER, clientId: 'orders', ...options });

  it.each<[string, Partial<OidcClientCredentialsModuleOptions>, string]>([
    ['an assertion file', { clientAssertion: { file: '/var/run/token' } }, 'private_key_jwt'],
    ['an assertion provider', { clientAssertion: { get: provider } }, 'private_key_jwt'],
    ['a secret provider', { clientSecret: provider }, 'client_secret_basic'],
    [
      'a secret provider with client_secret_jwt',
      { clientSecret: provider, clientAuthMethod: 'client_secret_jwt' },
      'client_secret_jwt',
    ],
    ['a signer', { clientAuthMethod: 'private_key_jwt', privateKey: signer }, 'private_key_jwt'],
  ])('%s is taken (auth method %s)', (_case, options, method) => {
    const resolved = resolve(options);
    expect(resolved.clientAuthMethod).toBe(method);
    expect(hasAnyClientCredential(resolved)).toBe(true);
  });

  it.each<[string, Partial<OidcClientCredentialsModuleOptions>, string, RegExp]>([
    [
      'file and get',
      { clientAssertion: { file: '/t', get: provider } },
      'clientAssertion.get',
      /one assertion source/,
    ],
    ['an empty file path', { clientAssertion: { file: ' ' } }, 'clientAssertion.file', /path/],
    [
      'get not a function',
      { clientAssertion: { get: 'token' as unknown as () => Promise<string> } },
      'clientAssertion.get',
      /function/,
    ],
    [
      'a file with audience',
      { clientAssertion: { file: '/t', audience: 'token_endpoint' } },
      'clientAssertion.audience',
      /ready-made one is sent as it is/,
    ],
    [
      'a file with privateKey',
      { clientAssertion: { file: '/t' }, privateKey: key },
      'clientAssertion.file',
      /privateKey/,
    ],
    [
      'a file with client_secret_post',
      { clientAssertion: { file: '/t' }, clientAuthMethod: 'client_secret_post' },
      'clientAssertion.file',
      /private_key_jwt, not client_secret_post/,
    ],
    [
      'a secret provider with client_secret_query',
      { clientSecret: provider, clientAuthMethod: 'client_secret_query' },
      'clientSecret',
      /not supported with client_secret_query/,
    ],
    [
      'a secret that is a number',
      { clientSecret: 42 as unknown as string },
      'clientSecret',
      /string or a function/,
    ],
    [
      'a signer of HS256',
      { clientAuthMethod: 'private_key_jwt', privateKey: { ...signer, alg: 'HS256' } },
      'privateKey',
      /not one of/,
    ],
    [
      'a signer with an empty kid',
      { clientAuthMethod: 'private_key_jwt', privateKey: { ...signer, kid: '' } },
      'privateKey',
      /kid/,
    ],
  ])('%s fails at startup, naming %s', (_case, options, option, message) => {
    let error: unknown;
    try {
      resolve(options);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error).toMatchObject({ option });
    expect((error as Error).message).toMatch(message);
  });

  it('a public CryptoKey is refused', async () => {
    const { publicKey } = await generateKeyPair('ES256');
    expect(() => resolve({ clientAuthMethod: 'private_key_jwt', privateKey: publicKey })).toThrow(
      /private CryptoKey usable to sign/,
    );
  });
});
