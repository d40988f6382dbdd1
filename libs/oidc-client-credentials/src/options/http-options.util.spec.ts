import { Agent } from 'undici';
import { ConfigurationError } from '../errors/configuration.error.js';
import type { OidcClientCredentialsModuleOptions } from './oidc-client-credentials-options.interface.js';
import { assertOutboundCredentials } from './identity-options.util.js';
import { resolveOptions } from './resolve-options.util.js';
import {
  createCertificateAuthority,
  selfSignedCertificate,
} from '../../../../test/utils/tls-certificates.js';

// The transport options (http.dispatcher, http.fetch, http.proxy) and the client certificate
// (mtls), checked at startup: every problem is a ConfigurationError naming the option, and no
// message shows a private key.

const ISSUER = 'https://id.example.com';
const ca = createCertificateAuthority('Options test CA');
const leaf = ca.issue({ commonName: 'orders', usage: 'client' });
const other = selfSignedCertificate({ commonName: 'other', usage: 'client' });
const agent = new Agent();

const base = { issuer: ISSUER, clientId: 'orders', clientSecret: 'orders-secret' };
const w = (overrides: Record<string, unknown>) => ({ ...base, ...overrides });
const resolve = (options: unknown) => resolveOptions(options as OidcClientCredentialsModuleOptions);
const mtls = (overrides: Record<string, unknown> = {}) => ({
  cert: leaf.cert,
  key: leaf.key,
  ...overrides,
});
const tls = (overrides: Record<string, unknown> = {}) =>
  w({ clientSecret: undefined, clientAuthMethod: 'tls_client_auth', mtls: mtls(), ...overrides });

function refusal(run: () => unknown): ConfigurationError {
  try {
    run();
  } catch (error) {
    return error as ConfigurationError;
  }
  throw new Error('the options were accepted');
}

afterAll(async () => {
  await agent.close();
});

describe('http transport and mtls options', () => {
  it.each<[string, Record<string, unknown>, string]>([
    ['dispatcher and fetch together', w({ http: { dispatcher: agent, fetch } }), 'http.fetch'],
    [
      'dispatcher and proxy together',
      w({ http: { dispatcher: agent, proxy: 'env' } }),
      'http.proxy',
    ],
    ['fetch and proxy together', w({ http: { fetch, proxy: 'env' } }), 'http.proxy'],
    ['a dispatcher that is not one', w({ http: { dispatcher: {} } }), 'http.dispatcher'],
    [
      'a dispatcher that is a URL',
      w({ http: { dispatcher: 'http://proxy:3128' } }),
      'http.dispatcher',
    ],
    ['a fetch that is not a function', w({ http: { fetch: 'fetch' } }), 'http.fetch'],
    ['proxy other than env', w({ http: { proxy: 'system' } }), 'http.proxy'],
    ['proxy as a URL', w({ http: { proxy: 'http://proxy:3128' } }), 'http.proxy'],
    ['an unknown http key', w({ http: { proxyUrl: 'http://proxy:3128' } }), 'http.proxyUrl'],
    ['mtls not an object', w({ mtls: 'cert.pem' }), 'mtls'],
    ['mtls without cert', w({ mtls: mtls({ cert: undefined }) }), 'mtls.cert'],
    ['mtls cert not PEM', w({ mtls: mtls({ cert: 'not a certificate' }) }), 'mtls.cert'],
    ['mtls without key', w({ mtls: mtls({ key: undefined }) }), 'mtls.key'],
    ['mtls key not PEM', w({ mtls: mtls({ key: 'raw-key-material-xyz' }) }), 'mtls.key'],
    ['mtls key of another certificate', w({ mtls: mtls({ key: other.key }) }), 'mtls.key'],
    ['mtls key given as the certificate', w({ mtls: mtls({ key: leaf.cert }) }), 'mtls.key'],
    ['mtls ca not PEM', w({ mtls: mtls({ ca: 'a CA' }) }), 'mtls.ca'],
    ['an unknown mtls key', w({ mtls: mtls({ passphrase: 'x' }) }), 'mtls.passphrase'],
    ['mtls with http.dispatcher', w({ mtls: mtls(), http: { dispatcher: agent } }), 'mtls'],
    ['mtls with http.fetch', w({ mtls: mtls(), http: { fetch } }), 'mtls'],
    ['tls_client_auth without mtls', tls({ mtls: undefined }), 'mtls'],
    ['tls_client_auth with a clientSecret', tls({ clientSecret: 'orders-secret' }), 'clientSecret'],
    [
      'self_signed_tls_client_auth without mtls',
      tls({ clientAuthMethod: 'self_signed_tls_client_auth', mtls: undefined }),
      'mtls',
    ],
    [
      'a named client sharing the root identity with its own mtls',
      w({ clients: { billing: { mtls: mtls() } } }),
      'clients.billing.clientId',
    ],
    [
      'a named client with a bad certificate',
      w({
        clients: {
          billing: { clientId: 'billing', clientSecret: 's', mtls: mtls({ key: other.key }) },
        },
      }),
      'clients.billing.mtls.key',
    ],
    [
      'a named client with its own http',
      w({ clients: { billing: { http: { proxy: 'env' } } } }),
      'clients.billing.http',
    ],
  ])('refuses %s, naming the option and never the key', (_case, options, option) => {
    // As the token provider checks at startup: the options, then the outbound credentials.
    const error = refusal(() => assertOutboundCredentials(resolve(options)));
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error.message).toContain(`"${option}"`);
    for (const key of [leaf.key.slice(40, 80), other.key.slice(40, 80), 'raw-key-material-xyz']) {
      expect(error.message).not.toContain(key);
    }
    expect(error.message).not.toContain('PRIVATE KEY');
  });

  it.each<[string, Record<string, unknown>, (resolved: ReturnType<typeof resolve>) => void]>([
    [
      'no transport option: the limits only',
      w({}),
      (r) => expect(r.http).toEqual({ timeoutMs: 5000, maxResponseBytes: 65_536 }),
    ],
    [
      'a dispatcher',
      w({ http: { dispatcher: agent } }),
      (r) => expect(r.http.dispatcher).toBe(agent),
    ],
    ['a fetch', w({ http: { fetch } }), (r) => expect(r.http.fetch).toBe(fetch)],
    [
      "proxy 'env' with mtls",
      w({ http: { proxy: 'env' }, mtls: mtls() }),
      (r) => expect(r.http.proxy).toBe('env'),
    ],
    [
      'mtls with a client secret: the certificate and its thumbprint',
      w({ mtls: mtls({ ca: ca.cert }) }),
      (r) =>
        expect(r.mtls).toEqual({
          cert: leaf.cert,
          key: leaf.key,
          ca: ca.cert,
          thumbprint: leaf.thumbprint,
        }),
    ],
    [
      'tls_client_auth with mtls and no secret',
      tls(),
      (r) =>
        expect(r).toMatchObject({
          clientAuthMethod: 'tls_client_auth',
          mtls: { thumbprint: leaf.thumbprint },
        }),
    ],
    [
      'a named client inherits the root certificate with the root identity',
      w({ mtls: mtls(), clients: { reports: { scope: 'reports:read' } } }),
      (r) => expect(r.clients.reports.mtls?.thumbprint).toBe(leaf.thumbprint),
    ],
    [
      'a named client with its own clientId has its own certificate, or none',
      w({
        mtls: mtls(),
        clients: {
          billing: {
            clientId: 'billing',
            clientAuthMethod: 'self_signed_tls_client_auth',
            mtls: { cert: other.cert, key: other.key },
          },
          audit: { clientId: 'audit', clientSecret: 'audit-secret' },
        },
      }),
      (r) => {
        expect(r.clients.billing.mtls?.thumbprint).toBe(other.thumbprint);
        expect(r.clients.audit.mtls).toBeUndefined();
      },
    ],
  ])('accepts %s', (_case, options, check) => {
    check(resolve(options));
  });
});
