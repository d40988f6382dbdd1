import { ConfigurationError } from '../errors/configuration.error.js';
import type { OidcClientCredentialsModuleOptions } from './oidc-client-credentials-options.interface.js';
import { resolveOptions } from './resolve-options.util.js';
import { missingAudienceWarning } from './verification-options.util.js';

const ISSUER = 'https://id.example.com';
const PARTNER = 'https://id.partner.example';
const SECRET = 'partner-S3CRET-value';

const resolve = (verification: Record<string, unknown>, root: Record<string, unknown> = {}) =>
  resolveOptions({ issuer: ISSUER, verification, ...root } as OidcClientCredentialsModuleOptions);

function refusal(run: () => unknown): ConfigurationError {
  try {
    run();
  } catch (error) {
    return error as ConfigurationError;
  }
  throw new Error('the options were accepted');
}

describe('verification.issuers, issuerResolver, resourceMetadata, introspection', () => {
  const refused: [string, Record<string, unknown>, string, RegExp?][] = [
    ['issuers not a list', { issuers: { issuer: PARTNER } }, 'verification.issuers'],
    ['issuers empty', { issuers: [] }, 'verification.issuers'],
    [
      'an entry not an object',
      { issuers: ['https://id.partner.example'] },
      'verification.issuers[0]',
    ],
    [
      'an issuer that is not a URL',
      { issuers: [{ issuer: 'partner' }] },
      'verification.issuers[0].issuer',
    ],
    [
      'an issuer that is not a string',
      { issuers: [{ issuer: 42 }] },
      'verification.issuers[0].issuer',
    ],
    [
      'an ftp issuer',
      { issuers: [{ issuer: 'ftp://id.partner.example' }] },
      'verification.issuers[0].issuer',
    ],
    [
      'an http issuer off loopback',
      { issuers: [{ issuer: 'http://id.partner.example' }] },
      'verification.issuers[0].issuer',
      /loopback/,
    ],
    [
      'an issuer with a query',
      { issuers: [{ issuer: `${PARTNER}?tenant=a` }] },
      'verification.issuers[0].issuer',
    ],
    [
      'an issuer with a fragment',
      { issuers: [{ issuer: `${PARTNER}#a` }] },
      'verification.issuers[0].issuer',
    ],
    [
      'an issuer with user info',
      { issuers: [{ issuer: 'https://u:p@id.partner.example' }] },
      'verification.issuers[0].issuer',
    ],
    [
      'an issuer listed twice',
      { issuers: [{ issuer: PARTNER }, { issuer: PARTNER }] },
      'verification.issuers[1].issuer',
    ],
    [
      'an unknown key in an entry',
      { issuers: [{ issuer: PARTNER, audiences: 'api' }] },
      'verification.issuers[0].audiences',
      /did you mean/,
    ],
    [
      'an unknown endpoint',
      { issuers: [{ issuer: PARTNER, endpoints: { token: `${PARTNER}/token` } }] },
      'verification.issuers[0].endpoints.token',
    ],
    [
      'an http endpoint off loopback',
      { issuers: [{ issuer: PARTNER, endpoints: { jwks: 'http://id.partner.example/jwks' } }] },
      'verification.issuers[0].endpoints.jwks',
    ],
    [
      'an unknown strategy',
      { issuers: [{ issuer: PARTNER, strategy: 'magic' }] },
      'verification.issuers[0].strategy',
    ],
    [
      'an empty audience',
      { issuers: [{ issuer: PARTNER, audience: [] }] },
      'verification.issuers[0].audience',
    ],
    [
      'a client secret without a client id',
      { issuers: [{ issuer: PARTNER, clientSecret: SECRET }] },
      'verification.issuers[0].clientId',
    ],
    [
      'issuers with a strategy of your own',
      { issuers: [{ issuer: PARTNER }], strategy: { verify: async () => ({}) } },
      'verification.issuers',
    ],
    [
      'issuerResolver without issuers',
      { issuerResolver: () => PARTNER },
      'verification.issuerResolver',
    ],
    [
      'issuerResolver not a function',
      { issuers: [{ issuer: PARTNER }], issuerResolver: PARTNER },
      'verification.issuerResolver',
    ],
    [
      'resourceMetadata without a resource',
      { resourceMetadata: {} },
      'verification.resourceMetadata.resource',
    ],
    [
      'an http resource off loopback',
      { resourceMetadata: { resource: 'http://api.example.com' } },
      'verification.resourceMetadata.resource',
    ],
    [
      'a resource with a fragment',
      { resourceMetadata: { resource: 'https://api.example.com/#x' } },
      'verification.resourceMetadata.resource',
    ],
    [
      'a scope with a space',
      { resourceMetadata: { resource: 'https://api.example.com', scopesSupported: ['a b'] } },
      'verification.resourceMetadata.scopesSupported',
    ],
    [
      'an unknown resourceMetadata key',
      { resourceMetadata: { resource: 'https://api.example.com', scopes: ['a'] } },
      'verification.resourceMetadata.scopes',
    ],
    [
      'signedResponse not a boolean',
      { introspection: { signedResponse: 'yes' } },
      'verification.introspection.signedResponse',
    ],
  ];

  it.each(refused)('refuses %s at startup, naming the option', (...row) => {
    const [, verification, option, message] = row;
    const error = refusal(() => resolve(verification));
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error).toMatchObject({ code: 'OIDC_CC_CONFIGURATION_INVALID', option });
    if (message) expect(error.message).toMatch(message);
    expect(error.message).not.toContain(SECRET);
  });

  it('resolves the entries: issuer as given, audience as a list, endpoints as URLs', () => {
    const { verification } = resolve({
      issuers: [
        { issuer: ISSUER },
        {
          issuer: PARTNER,
          audience: 'orders-api',
          strategy: 'introspection',
          endpoints: { introspection: `${PARTNER}/introspect` },
          clientId: 'orders-api',
          clientSecret: SECRET,
        },
        { issuer: 'http://127.0.0.1:8080/realms/a' },
      ],
    });
    expect(verification.issuers).toEqual([
      { issuer: ISSUER, endpoints: {} },
      {
        issuer: PARTNER,
        audience: ['orders-api'],
        strategy: 'introspection',
        endpoints: { introspection: new URL(`${PARTNER}/introspect`) },
        clientId: 'orders-api',
        clientSecret: SECRET,
      },
      { issuer: 'http://127.0.0.1:8080/realms/a', endpoints: {} },
    ]);
  });

  it('accepts an http issuer off loopback with allowInsecureHttp', () => {
    const { verification } = resolve(
      { issuers: [{ issuer: 'http://id.partner.example' }] },
      { allowInsecureHttp: true },
    );
    expect(verification.issuers?.[0].issuer).toBe('http://id.partner.example');
  });

  const metadataUrls: [string, string, string][] = [
    [
      'a host alone',
      'https://api.example.com',
      'https://api.example.com/.well-known/oauth-protected-resource',
    ],
    [
      'a host with /',
      'https://api.example.com/',
      'https://api.example.com/.well-known/oauth-protected-resource',
    ],
    [
      'a path',
      'https://api.example.com/orders/v1',
      'https://api.example.com/.well-known/oauth-protected-resource/orders/v1',
    ],
  ];

  it.each(metadataUrls)(
    'puts the metadata of a resource with %s where RFC 9728 §3.1 says',
    (_case, resource, url) => {
      const { verification } = resolve({ resourceMetadata: { resource } });
      expect(verification.resourceMetadata).toMatchObject({
        resource,
        url,
        path: new URL(url).pathname,
      });
    },
  );

  it('signed introspection answers are off by default', () => {
    expect(resolve({}).verification.introspection).toEqual({ signedResponse: false });
    expect(resolve({}).verification.issuers).toBeUndefined();
  });

  const warnings: { case: string; verification: Record<string, unknown>; names?: string[] }[] = [
    {
      case: 'an entry without audience, and none at the root',
      verification: { issuers: [{ issuer: ISSUER, audience: 'api' }, { issuer: PARTNER }] },
      names: [PARTNER],
    },
    {
      case: 'every entry with an audience',
      verification: {
        issuers: [
          { issuer: ISSUER, audience: 'api' },
          { issuer: PARTNER, audience: 'api' },
        ],
      },
    },
    {
      case: 'the root audience for the entries without one',
      verification: { audience: 'api', issuers: [{ issuer: ISSUER }, { issuer: PARTNER }] },
    },
    {
      case: 'a userinfo entry, which cannot check one',
      verification: { issuers: [{ issuer: PARTNER, strategy: 'userinfo' }] },
    },
    {
      case: 'warnOnMissingAudience false',
      verification: { warnOnMissingAudience: false, issuers: [{ issuer: PARTNER }] },
    },
  ];

  it.each(warnings)('the missing-audience warning with issuers: $case', (row) => {
    const warning = missingAudienceWarning(resolve(row.verification));
    if (row.names) {
      for (const name of row.names) expect(warning).toContain(`"${name}"`);
      expect(warning).not.toContain(`"${ISSUER}"`);
    } else {
      expect(warning).toBeUndefined();
    }
  });
});
