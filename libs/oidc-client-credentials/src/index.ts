/**
 * nest-oidc-client-credentials: OAuth 2.0 client credentials for NestJS, outbound (TokenProvider,
 * ClientCredentialsHttpService) and inbound (ClientTokenGuard, its decorators and strategies).
 * Everything a user needs is exported here by name; nothing else of the package is public.
 */
export { OidcClientCredentialsModule } from './oidc-client-credentials.module.js';
export {
  OIDC_CLIENT_CREDENTIALS_MODULE_OPTIONS,
  type OidcClientCredentialsModuleAsyncOptions,
  type OidcClientCredentialsModuleExtras,
  type OidcClientCredentialsOptionsFactory,
} from './oidc-client-credentials.module-definition.js';
// Advanced: for ClientTokenGuard subclasses with a constructor of their own (docs/transports.md).
export {
  OIDC_CLIENT_CREDENTIALS_RESOLVED_OPTIONS,
  type ResolvedOptions,
} from './options/resolved-options.js';
export { TokenProvider } from './outbound/token.provider.js';
export {
  ClientCredentialsHttpService,
  withClientCredentials,
} from './outbound/client-credentials-http.service.js';
export {
  ClientCredentialsRpcClient,
  type ClientCredentialsRpcOptions,
  type RpcClient,
  type RpcTokenTransport,
} from './outbound/client-credentials-rpc.client.js';
export type {
  AuthorizationHeaders,
  ClientCredentialsToken,
  GetTokenOptions,
  TokenProviderStatus,
  TokenRequestParameters,
} from './outbound/client-credentials-token.interface.js';
export { TokenProviderRegistry } from './outbound/token-provider-registry.provider.js';
export {
  getClientCredentialsHttpToken,
  getTokenProviderToken,
  InjectClientCredentialsHttp,
  InjectTokenProvider,
} from './outbound/inject-token-provider.decorator.js';
export { OidcClientCredentialsEvents } from './observability/oidc-client-credentials-events.provider.js';
export {
  OidcClientCredentialsHealthIndicator,
  type OidcClientCredentialsHealthCheckOptions,
  type OidcClientCredentialsHealthDetails,
  type OidcClientCredentialsHealthResult,
  type OidcClientCredentialsHealthStatus,
  type OidcClientHealth,
  type OidcDiscoveryHealth,
  type OidcIssuerHealth,
  type OidcJwksHealth,
} from './observability/oidc-client-credentials.health.js';
export type {
  JwksFailedEvent,
  JwksFetchedEvent,
  JwksFetchReason,
  JwksStaleKeysUsedEvent,
  OidcClientCredentialsEventListener,
  OidcClientCredentialsEventMap,
  OidcClientCredentialsEventName,
  TokenCircuitOpenedEvent,
  TokenClientEvent,
  TokenCredentialEvent,
  TokenFailedEvent,
  TokenFetchedEvent,
  VerificationCacheHitEvent,
  VerificationFailedEvent,
  VerificationSucceededEvent,
} from './observability/oidc-client-credentials-events.interface.js';
export { TokenVerificationStrategy } from './strategies/token-verification.strategy.js';
export { CachedVerificationStrategy } from './strategies/cached-verification.strategy.js';
export { JwtVerificationStrategy } from './strategies/jwt.strategy.js';
export { IntrospectionVerificationStrategy } from './strategies/introspection.strategy.js';
export { UserinfoVerificationStrategy } from './strategies/userinfo.strategy.js';
export { AutoVerificationStrategy } from './strategies/auto.strategy.js';
export { VerificationCache } from './strategies/verification-cache.provider.js';
export { ClientTokenGuard } from './inbound/client-token.guard.js';
export type { BearerAnswer } from './inbound/bearer-answer.js';
export { getVerifiedToken } from './inbound/verified-tokens.js';
export { ClientId } from './inbound/client-id.decorator.js';
export { TokenClaims } from './inbound/token-claims.decorator.js';
export { RequireScopes, type RequireScopesDecorator } from './inbound/require-scopes.decorator.js';
export { AllowClients } from './inbound/allow-clients.decorator.js';
export {
  RequireClaims,
  type ClaimsPredicate,
  type RequiredClaims,
  type RequiredClaimValue,
} from './inbound/require-claims.decorator.js';
export { Public } from './inbound/public.decorator.js';
export { VerifyWith, type VerifyWithStrategy } from './inbound/verify-with.decorator.js';
export { attachHandshake } from './inbound/transports/ws.transport.js';
export type {
  GrpcRefusal,
  TransportRefusal,
  TransportRefusalCode,
} from './inbound/transports/transport-refusal.interface.js';
export {
  GraphqlRefusalError,
  type GraphqlRefusalExtensions,
} from './inbound/transports/graphql-refusal.error.js';
export {
  GraphqlWsAuthentication,
  type GraphqlWsConnection,
} from './inbound/transports/graphql-ws-authentication.provider.js';
export {
  addClientCredentialsSecurity,
  type ClientCredentialsSecurityOptions,
  type OAuth2DocumentBuilder,
} from './inbound/client-credentials-openapi.util.js';
export type { BearerErrorCode, DpopErrorCode } from './inbound/www-authenticate.util.js';
export {
  SenderConstraintVerifier,
  type SenderConstraintInput,
} from './inbound/sender-constraint/sender-constraint.verifier.js';
export {
  SenderConstraintError,
  type SenderConstraintErrorCode,
  type ChallengeScheme,
} from './errors/sender-constraint.error.js';
export {
  BearerRequestError,
  type BearerRequestErrorCode,
  type BearerRequestErrorReason,
} from './errors/bearer-request.error.js';
export {
  InsufficientScopeError,
  type InsufficientScopeErrorCode,
} from './errors/insufficient-scope.error.js';
export {
  OidcClientCredentialsError,
  type OidcClientCredentialsErrorCode,
} from './errors/oidc-client-credentials.error.js';
export { ConfigurationError } from './errors/configuration.error.js';
export { DiscoveryError } from './errors/discovery.error.js';
export { TokenRequestError, type TokenRequestErrorCode } from './errors/token-request.error.js';
export {
  CredentialError,
  type CredentialFailure,
  type CredentialSource,
  type CredentialStatus,
} from './idp/credential-source.util.js';
export {
  isJwsSigner,
  JwsSigningError,
  signCompactJws,
  type JwsSigner,
  type SigningKey,
} from './idp/jws-signer.util.js';
export {
  TokenVerificationError,
  type TokenVerificationErrorCode,
} from './errors/token-verification.error.js';
export {
  ValidatorUnavailableError,
  type ValidatorUnavailableErrorCode,
} from './errors/validator-unavailable.error.js';
export type {
  AuthorizedHttpOptions,
  CircuitBreakerOptions,
  ClientAssertionOptions,
  ClientAuthMethod,
  ClientSecretProvider,
  CredentialRequestContext,
  DpopOptions,
  DpopSigner,
  HttpLimitsOptions,
  MtlsOptions,
  NamedClientIssuerOptions,
  NamedClientOptions,
  OidcClientCredentialsModuleOptions,
  OidcEndpoints,
  RetryOptions,
  SharedCacheOptions,
  TokenLocation,
  TokenRenewalOptions,
  VerificationOptions,
  VerificationStrategyName,
  VerifyOnStartupOptions,
} from './options/oidc-client-credentials-options.interface.js';
export type { TokenConfirmation, VerifiedToken } from './strategies/verified-token.interface.js';
export type {
  IntrospectionOptions,
  IssuerResolver,
  ResourceMetadataOptions,
  TrustedIssuerOptions,
} from './options/oidc-client-credentials-options.interface.js';
export { IssuerRegistry } from './strategies/issuers/issuer-registry.provider.js';
export { IssuerRoutingStrategy } from './strategies/issuers/issuer-routing.strategy.js';
export type { IssuerVerifier } from './strategies/issuers/issuer-verifier.util.js';
export type { ProtectedResourceMetadata } from './inbound/resource-metadata/resource-metadata.document.js';
