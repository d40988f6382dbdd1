/**
 * Paths of the ID service's endpoints, relative to its issuer: discovery at the well-known path, the
 * others under `/openid/`, as in the ID service article the library follows.
 */
export const PATHS = {
  discovery: '/.well-known/openid-configuration',
  token: '/openid/token',
  introspection: '/openid/introspect',
  userinfo: '/openid/userinfo',
  jwks: '/openid/jwks.json',
} as const;
