import type {
  OidcClientCredentialsModuleOptions,
  VerificationOptions,
} from 'nest-oidc-client-credentials';
import type { FakeIdService } from './fake-id-service.js';

/**
 * Caches that would hide a change made at the fake during a test: a revoked token, a rotated key,
 * an endpoint made to fail must show on the next request, not after a TTL.
 */
const TESTING_VERIFICATION: VerificationOptions = {
  cacheTtlSeconds: 0,
  negativeCacheTtlSeconds: 0,
  jwksCooldownSeconds: 0,
};

/**
 * Options of `OidcClientCredentialsModule` that point it at a {@link FakeIdService}: its issuer
 * (discovery does the rest) and the id and secret of one of its clients (the first with a secret,
 * unless `overrides.clientId` names another), used for token requests and for introspection.
 *
 * Every default is the library's, except that the verification caches are off
 * (`cacheTtlSeconds`, `negativeCacheTtlSeconds` and `jwksCooldownSeconds` are `0`), so that
 * revoking a token, rotating a key or overriding an endpoint at the fake shows on the next
 * request. `overrides` win; `verification` is merged member by member.
 *
 * @example
 * const moduleRef = await Test.createTestingModule({ imports: [AppModule] })
 *   .overrideProvider(OIDC_CLIENT_CREDENTIALS_MODULE_OPTIONS)
 *   .useValue(createTestingOptions(idp, { verification: { audience: 'orders-api' } }))
 *   .compile();
 */
export function createTestingOptions(
  idp: FakeIdService,
  overrides: Partial<OidcClientCredentialsModuleOptions> = {},
): OidcClientCredentialsModuleOptions {
  const clientId = overrides.clientId ?? defaultClientId(idp);
  const secret = clientId === undefined ? undefined : idp.clients[clientId]?.secret;
  // With private_key_jwt a secret is a configuration error: one authentication method per request.
  const usesSecret = overrides.clientAuthMethod !== 'private_key_jwt' && secret !== undefined;
  return {
    issuer: idp.issuer,
    ...(clientId === undefined ? {} : { clientId }),
    ...(usesSecret ? { clientSecret: secret } : {}),
    ...overrides,
    verification: { ...TESTING_VERIFICATION, ...overrides.verification },
  };
}

function defaultClientId(idp: FakeIdService): string | undefined {
  const ids = Object.keys(idp.clients);
  return ids.find((id) => idp.clients[id].secret !== undefined) ?? ids[0];
}
