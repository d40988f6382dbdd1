import type { OidcClientCredentialsModuleOptions } from '../../options/oidc-client-credentials-options.interface.js';
import { resolveOptions } from '../../options/resolve-options.util.js';
import { issuerOptions } from './issuer-verifier.util.js';

const ROOT = 'https://id.example.com';
const PARTNER = 'https://id.partner.example';
const ROOT_SECRET = 'root-S3CRET';

function optionsFor(verification: Record<string, unknown>, index: number) {
  const root = resolveOptions({
    issuer: ROOT,
    clientId: 'orders-api',
    clientSecret: ROOT_SECRET,
    endpoints: { jwks: `${ROOT}/jwks`, token: `${ROOT}/token` },
    verification,
  } as OidcClientCredentialsModuleOptions);
  return issuerOptions(root, root.verification.issuers![index]);
}

describe('issuerOptions: what each trusted issuer is verified with', () => {
  const rows: {
    case: string;
    verification: Record<string, unknown>;
    index: number;
    expected: Record<string, unknown>;
  }[] = [
    {
      case: "the root issuer without credentials of its own: the root's endpoints and credentials",
      verification: { issuers: [{ issuer: ROOT }] },
      index: 0,
      expected: {
        issuer: ROOT,
        clientId: 'orders-api',
        clientSecret: ROOT_SECRET,
        endpoints: { jwks: new URL(`${ROOT}/jwks`), token: new URL(`${ROOT}/token`) },
      },
    },
    {
      case: "another issuer: none of the root's endpoints or credentials",
      verification: { issuers: [{ issuer: ROOT }, { issuer: PARTNER }] },
      index: 1,
      expected: {
        issuer: PARTNER,
        clientId: undefined,
        clientSecret: undefined,
        privateKey: undefined,
        mtls: undefined,
        endpoints: {},
      },
    },
    {
      case: 'another issuer with its own credentials: those, with Basic',
      verification: { issuers: [{ issuer: PARTNER, clientId: 'p', clientSecret: 'p-secret' }] },
      index: 0,
      expected: {
        clientId: 'p',
        clientSecret: 'p-secret',
        clientAuthMethod: 'client_secret_basic',
      },
    },
    {
      case: 'the root issuer with endpoints of its own: only those',
      verification: {
        issuers: [{ issuer: ROOT, endpoints: { introspection: `${ROOT}/introspect` } }],
      },
      index: 0,
      expected: { endpoints: { introspection: new URL(`${ROOT}/introspect`) } },
    },
  ];

  it.each(rows)('$case', (row) => {
    expect(optionsFor(row.verification, row.index)).toMatchObject(row.expected);
  });

  const policies: {
    case: string;
    verification: Record<string, unknown>;
    audience?: string[];
    strategy: string;
  }[] = [
    {
      case: 'defaults: the root audience and strategy',
      verification: { audience: 'api', strategy: 'jwt', issuers: [{ issuer: PARTNER }] },
      audience: ['api'],
      strategy: 'jwt',
    },
    {
      case: "the entry's own",
      verification: {
        audience: 'api',
        strategy: 'jwt',
        issuers: [{ issuer: PARTNER, audience: ['p-api'], strategy: 'auto' }],
      },
      audience: ['p-api'],
      strategy: 'auto',
    },
  ];

  it.each(policies)('audience and strategy: $case', (row) => {
    const options = optionsFor(row.verification, 0);
    expect(options.verification.audience).toEqual(row.audience);
    expect(options.verification.strategy).toBe(row.strategy);
    expect(options.verification.issuers).toBeUndefined();
  });
});
