import type { CryptoKey, JWK } from 'jose';
import type { Keyv } from 'keyv';
import type { Dispatcher } from 'undici';
import type { SigningKey } from '../idp/jws-signer.util.js';
import type {
  ClientAuthMethod,
  ClientSecretProvider,
  DpopSigner,
  OidcEndpoints,
  VerificationOptions,
} from './oidc-client-credentials-options.interface.js';
import type {
  InboundIssuerOptionKey,
  ResolvedInboundIssuerOptions,
} from './inbound-issuers-options.util.js';
import type {
  ResolvedSenderConstraintOptions,
  SenderConstraintOptionKey,
} from './sender-constraint-options.util.js';

/**
 * DI token of the module's options after validation, with every default applied
 * ({@link ResolvedOptions}). Advanced: for `ClientTokenGuard` subclasses with a constructor of
 * their own, which pass it on to `super()`.
 */
export const OIDC_CLIENT_CREDENTIALS_RESOLVED_OPTIONS = Symbol(
  'OIDC_CLIENT_CREDENTIALS_RESOLVED_OPTIONS',
);

/** Options after validation, with every default applied. Built once at startup. */
export interface ResolvedOptions {
  issuer: string;
  endpoints: { [K in keyof OidcEndpoints]?: URL };
  clientId?: string;
  clientSecret?: string | ClientSecretProvider;
  clientAuthMethod: ClientAuthMethod;
  privateKey?: SigningKey;
  clientAssertion: {
    audience: 'issuer' | 'token_endpoint';
    explicitType: boolean;
    /** A ready-made assertion: its file, or the function that gives it. */
    file?: string;
    get?: ClientSecretProvider;
  };
  /** Token request parameters besides grant_type and client authentication, in a stable order. */
  tokenParams: [string, string][];
  /** DPoP-bound tokens: the proofs' algorithm and the key brought, if any; absent when off. */
  dpop?: { alg: string; privateKey?: JWK | CryptoKey | DpopSigner };
  tokenRenewal: {
    renewAfterFraction: number;
    renewBeforeExpirySeconds: number;
    defaultLifetimeSeconds: number;
    maxLifetimeSeconds: number;
    proactive: boolean;
    prefetch: boolean;
    maxParameterSets: number;
  };
  retry: { maxAttempts: number; initialDelayMs: number; maxDelayMs: number; deadlineMs: number };
  circuitBreaker: { failureThreshold: number; cooldownMs: number };
  http: {
    timeoutMs: number;
    maxResponseBytes: number;
    dispatcher?: Dispatcher;
    fetch?: (input: string | URL, init?: RequestInit) => Promise<Response>;
    proxy?: 'env';
  };
  /** The client's certificate for mutual TLS with the ID service; absent without. */
  mtls?: { cert: string; key: string; ca?: string; thumbprint: string };
  authorizedHttp: {
    retryOnUnauthorized: 'idempotent' | 'all' | 'never';
    /** Resource indicators by origin (`authorizedHttp.resources`); absent: no allowlist. */
    resources?: Readonly<Record<string, string[]>>;
  };
  verification: Required<
    Omit<
      VerificationOptions,
      'audience' | 'allowedClientIds' | 'realm' | InboundIssuerOptionKey | SenderConstraintOptionKey
    >
  > & {
    audience?: string[];
    allowedClientIds?: ReadonlySet<string>;
    realm?: string;
  } & ResolvedInboundIssuerOptions &
    ResolvedSenderConstraintOptions;
  cache: { stores: Keyv[]; keyPrefix: string; encryptionKey?: Buffer; timeoutMs: number };
  allowInsecureHttp: boolean;
  /** The sides checked against the ID service while the app starts. */
  verifyOnStartup: { outbound: boolean; inbound: boolean };
  /** Name of a named outbound client; absent for the root client. */
  clientName?: string;
  /** How errors name this client's credential options, e.g. `clients.billing.`; root: none. */
  credentialsOptionPrefix?: string;
  /** The root's named clients, resolved (each one empty itself). */
  clients: Readonly<Record<string, ResolvedOptions>>;
}

/** Name under which the root's own outbound client is reported and injected. */
export const DEFAULT_CLIENT_NAME = 'default';
