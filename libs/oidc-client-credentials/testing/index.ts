/**
 * `nest-oidc-client-credentials/testing`: an in-process fake ID service and the module options that
 * point the library at it, for the e2e tests of apps that use the library. See docs/testing.md.
 */
export { FakeIdService, type FakeIdServiceOptions } from './fake-id-service.js';
export {
  readRequest,
  recordRequest,
  writeResponse,
  type FakeHandler,
  type FakeResponse,
  type RecordedRequest,
  type RequestParts,
} from './http-exchange.js';
export type {
  FakeClient,
  IdServiceContext,
  IdServiceContextOptions,
} from './id-service-context.js';
export {
  IdServiceEndpoints,
  type IdServiceEndpointName,
  type IdServiceEndpointsOptions,
} from './id-service-endpoints.js';
export type { IssuedToken, IssuedTokens } from './issued-tokens.js';
export { PATHS } from './paths.js';
export { signCompact, type SigningCryptoKey } from './sign-compact.util.js';
export type { SigningAlgorithm, SigningKey, SigningKeys } from './signing-keys.js';
export { createTestingOptions } from './testing-options.util.js';
export { TokenEndpointDpop, type FakeDpopOptions } from './token-dpop.js';
