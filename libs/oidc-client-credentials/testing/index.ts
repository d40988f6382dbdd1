/**
 * `nest-oidc-client-credentials/testing`: an in-process fake ID service and the module options that
 * point the library at it, for the e2e tests of apps that use the library. See docs/testing.md.
 */
export {
  FakeIdService,
  PATHS,
  signCompact,
  type FakeClient,
  type FakeHandler,
  type FakeIdServiceOptions,
  type FakeResponse,
  type RecordedRequest,
} from './fake-id-service.js';
export { createTestingOptions } from './testing-options.util.js';
