import { Logger } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { Keyv } from 'keyv';
import {
  OidcClientCredentialsModule,
  TokenVerificationStrategy,
  type OidcClientCredentialsModuleOptions,
  type VerifiedToken,
} from 'nest-oidc-client-credentials';
import { FakeIdService } from 'nest-oidc-client-credentials/testing';
import { ConfigurationError } from '../errors/configuration.error.js';
import { resolveNamedClient } from './named-client-options.util.js';
import { resolveOptions } from './resolve-options.util.js';

const SECRET = 'root-S3CRET-value';
const ISSUER = 'https://id.example.com';
const base = { issuer: ISSUER, clientId: 'orders', clientSecret: SECRET };
const w = (overrides: Record<string, unknown>) => ({ ...base, ...overrides });
const resolve = (options: unknown) => resolveOptions(options as OidcClientCredentialsModuleOptions);
const billing = (entry: Record<string, unknown>) => w({ clients: { billing: entry } });

function refusal(run: () => unknown): ConfigurationError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigurationError);
    return error as ConfigurationError;
  }
  throw new Error('the options were accepted');
}

class StrategyWithState extends TokenVerificationStrategy {
  readonly calls: string[] = [];
  async verify(): Promise<VerifiedToken> {
    return { clientId: 'x', scopes: [], claims: {} };
  }
}

describe('option keys', () => {
  it.each<[string, Record<string, unknown>, string, string]>([
    // root
    ['scopes', w({ scopes: 'read' }), 'scopes', 'did you mean "scope"?'],
    ['a key in another case', w({ ClientSecret: SECRET }), 'ClientSecret', '"clientSecret"'],
    ['clientID', w({ clientID: 'orders' }), 'clientID', 'did you mean "clientId"?'],
    ['a section in the singular', w({ client: {} }), 'client', 'did you mean "clients"?'],
    ['a verification key at the root', w({ strategy: 'jwt' }), 'strategy', 'the options are'],
    ['an Object.prototype name', w({ toString: 'x' }), 'toString', 'the options are issuer'],
    // verification
    [
      'verification.audiences',
      w({ verification: { audiences: 'urn:orders' } }),
      'verification.audiences',
      'did you mean "verification.audience"?',
    ],
    [
      'verification.stategy',
      w({ verification: { stategy: 'jwt' } }),
      'verification.stategy',
      'did you mean "verification.strategy"?',
    ],
    [
      'verification.issuer',
      w({ verification: { issuer: ISSUER } }),
      'verification.issuer',
      'did you mean "verification.issuers"?',
    ],
    // tokenRenewal, retry, circuitBreaker, http
    [
      'tokenRenewal.renewAfterFracton',
      w({ tokenRenewal: { renewAfterFracton: 0.5 } }),
      'tokenRenewal.renewAfterFracton',
      'did you mean "tokenRenewal.renewAfterFraction"?',
    ],
    [
      'retry.maxAttempt',
      w({ retry: { maxAttempt: 2 } }),
      'retry.maxAttempt',
      'did you mean "retry.maxAttempts"?',
    ],
    [
      'circuitBreaker.threshold',
      w({ circuitBreaker: { threshold: 2 } }),
      'circuitBreaker.threshold',
      '"circuitBreaker" takes failureThreshold, cooldownMs',
    ],
    [
      'http.timeout',
      w({ http: { timeout: 10 } }),
      'http.timeout',
      'did you mean "http.timeoutMs"?',
    ],
    // cache, endpoints, authorizedHttp, clientAssertion
    [
      'cache.keyprefix',
      w({ cache: { keyprefix: 'x' } }),
      'cache.keyprefix',
      'did you mean "cache.keyPrefix"?',
    ],
    [
      'cache.redis',
      w({ cache: { redis: 'redis://127.0.0.1' } }),
      'cache.redis',
      '"cache" takes stores, keyPrefix',
    ],
    [
      'endpoints.userInfo',
      w({ endpoints: { userInfo: `${ISSUER}/me` } }),
      'endpoints.userInfo',
      'did you mean "endpoints.userinfo"?',
    ],
    [
      'endpoints.jwks_uri',
      w({ endpoints: { jwks_uri: `${ISSUER}/jwks` } }),
      'endpoints.jwks_uri',
      '"endpoints" takes token, introspection, userinfo, jwks',
    ],
    [
      'authorizedHttp.retryOnUnauthorised',
      w({ authorizedHttp: { retryOnUnauthorised: 'never' } }),
      'authorizedHttp.retryOnUnauthorised',
      'did you mean "authorizedHttp.retryOnUnauthorized"?',
    ],
    [
      'clientAssertion.explicitTyp',
      w({ clientAssertion: { explicitTyp: true } }),
      'clientAssertion.explicitTyp',
      'did you mean "clientAssertion.explicitType"?',
    ],
    // named clients
    [
      'clients.<name>.scopes',
      billing({ scopes: 'a' }),
      'clients.billing.scopes',
      '"clients.billing.scope"',
    ],
    [
      'clients.<name>.clientAssertion.audiense',
      billing({
        clientId: 'billing',
        clientSecret: SECRET,
        clientAssertion: { audiense: 'issuer' },
      }),
      'clients.billing.clientAssertion.audiense',
      'did you mean "clients.billing.clientAssertion.audience"?',
    ],
    [
      'clients.<name>.token (what a named client may set is listed)',
      billing({ token: 'x' }),
      'clients.billing.token',
      'a named client may set clientId, clientSecret, clientAuthMethod, privateKey',
    ],
    [
      'clients.<name>.verification (root only)',
      billing({ verification: {} }),
      'clients.billing.verification',
      'set it in the root options',
    ],
    // verifyOnStartup
    [
      'verifyOnStartup.outbund',
      w({ verifyOnStartup: { outbund: true } }),
      'verifyOnStartup.outbund',
      'did you mean "verifyOnStartup.outbound"?',
    ],
    [
      'verifyOnStartup.jwks',
      w({ verifyOnStartup: { jwks: true } }),
      'verifyOnStartup.jwks',
      '"verifyOnStartup" takes outbound, inbound',
    ],
    [
      'verifyOnstartup',
      w({ verifyOnstartup: true }),
      'verifyOnstartup',
      'did you mean "verifyOnStartup"?',
    ],
    [
      'clients.<name>.verifyOnStartup (root only)',
      billing({ verifyOnStartup: true }),
      'clients.billing.verifyOnStartup',
      'set it in the root options',
    ],
  ])(
    'refuses the unknown key %s, naming its path and the closest key',
    (_case, options, option, hint) => {
      const error = refusal(() => resolve(options));
      expect(error).toMatchObject({ code: 'OIDC_CC_CONFIGURATION_INVALID', option });
      expect(error.message).toContain(`Invalid option "${option}"`);
      expect(error.message).toContain(hint);
      expect(error.message).not.toContain(SECRET);
    },
  );

  it.each<[string, Record<string, unknown>, string]>([
    ['verification a string', w({ verification: 'jwt' }), 'verification'],
    ['retry a list', w({ retry: [3] }), 'retry'],
    ['cache null', w({ cache: null }), 'cache'],
    ['endpoints a URL', w({ endpoints: `${ISSUER}/token` }), 'endpoints'],
    ['clientAssertion a string', w({ clientAssertion: 'issuer' }), 'clientAssertion'],
    ['verifyOnStartup a string', w({ verifyOnStartup: 'yes' }), 'verifyOnStartup'],
    ['verifyOnStartup a number', w({ verifyOnStartup: 1 }), 'verifyOnStartup'],
    ['verifyOnStartup null', w({ verifyOnStartup: null }), 'verifyOnStartup'],
    ['verifyOnStartup a list', w({ verifyOnStartup: ['outbound'] }), 'verifyOnStartup'],
    [
      'clients.<name>.clientAssertion a string',
      billing({ clientId: 'billing', clientSecret: SECRET, clientAssertion: 'issuer' }),
      'clients.billing.clientAssertion',
    ],
  ])('refuses a section that is not an object: %s', (_case, options, option) => {
    expect(refusal(() => resolve(options))).toMatchObject({ option });
  });

  it.each<[string, Record<string, unknown>]>([
    ['extraParams of any names', w({ extraParams: { tenant: 'blue', 'x-Ms-Flag': '1' } })],
    ['client names of any spelling', w({ clients: { Reports: { scope: 'r' }, 'b.2': {} } })],
    [
      'a private JWK with its own members',
      w({
        clientSecret: undefined,
        clientAuthMethod: 'private_key_jwt',
        privateKey: {
          kty: 'EC',
          crv: 'P-256',
          x: 'x',
          y: 'y',
          d: 'd',
          kid: 'k',
          alg: 'ES256',
          use: 'sig',
        },
      }),
    ],
    [
      'a strategy instance with its own members',
      w({ verification: { strategy: new StrategyWithState() } }),
    ],
    ['Keyv stores', w({ cache: { stores: [new Keyv()] } })],
    ['the module extras isGlobal and clientNames', w({ isGlobal: true, clientNames: ['billing'] })],
    [
      'known keys set to undefined',
      w({ verification: undefined, retry: { maxAttempts: undefined } }),
    ],
  ])('accepts %s', (_case, options) => {
    expect(() => resolve(options)).not.toThrow();
  });

  it.each<[string, boolean]>([
    ['true', true],
    ['false', false],
  ])(
    'authorizedHttp.allowInsecureHttp %s is not a module option: refused, pointing to the root allowInsecureHttp',
    (_case, allowInsecureHttp) => {
      const options: OidcClientCredentialsModuleOptions = {
        ...base,
        authorizedHttp: {
          // @ts-expect-error the module's HttpServices follow the root allowInsecureHttp
          allowInsecureHttp,
        },
      };
      const error = refusal(() => resolve(options));
      expect(error).toMatchObject({ option: 'authorizedHttp.allowInsecureHttp' });
      expect(error.message).toContain('follow the root "allowInsecureHttp"');
    },
  );

  it("forFeature(name, options): an unknown key is named after the client's label", () => {
    const root = resolve(base);
    const error = refusal(() =>
      resolveNamedClient(base, root, 'billing', { scopes: 'a' } as never, "forFeature('billing')"),
    );
    expect(error).toMatchObject({ option: "forFeature('billing').scopes" });
    expect(error.message).toContain(`did you mean "forFeature('billing').scope"?`);
  });
});

describe('option keys at startup', () => {
  let idp: FakeIdService;
  beforeAll(async () => {
    Logger.overrideLogger(false);
    idp = await FakeIdService.start({ clients: { orders: { secret: SECRET } } });
  });
  afterAll(async () => {
    Logger.overrideLogger(new Logger());
    await idp.close();
  });

  /** Options as plain JavaScript or a variable would pass them: no compiler sees them. */
  const loose = (extra: Record<string, unknown>) =>
    ({
      issuer: idp.issuer,
      clientId: 'orders',
      clientSecret: SECRET,
      ...extra,
    }) as OidcClientCredentialsModuleOptions;

  async function boot(
    register: 'forRoot' | 'useFactory',
    options: OidcClientCredentialsModuleOptions,
  ) {
    const moduleRef = await Test.createTestingModule({
      imports: [
        register === 'forRoot'
          ? OidcClientCredentialsModule.forRoot(options)
          : OidcClientCredentialsModule.forRootAsync({ useFactory: async () => options }),
      ],
    }).compile();
    await moduleRef.init();
    return moduleRef;
  }

  it.each<['forRoot' | 'useFactory', Record<string, unknown>, string, string]>([
    [
      'useFactory',
      { verification: { audiences: 'urn:orders' } },
      'verification.audiences',
      'verification.audience',
    ],
    ['useFactory', { scopes: 'read' }, 'scopes', 'scope'],
    [
      'forRoot',
      { verification: { audiences: 'urn:orders' } },
      'verification.audiences',
      'verification.audience',
    ],
    [
      'forRoot',
      { clients: { billing: { scopes: 'read' } } },
      'clients.billing.scopes',
      'clients.billing.scope',
    ],
  ])('%s: %j fails the startup naming the key', async (register, extra, option, closest) => {
    const error = await boot(register, loose(extra)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error).toMatchObject({ option });
    expect((error as Error).message).toContain(`did you mean "${closest}"?`);
    expect(idp.requests).toHaveLength(0);
  });

  it('useFactory: a factory that returns the extras isGlobal and clientNames with the options boots', async () => {
    const moduleRef = await boot('useFactory', loose({ isGlobal: true, clientNames: [] }));
    await moduleRef.close();
  });
});
