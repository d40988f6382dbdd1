import type { JWK } from 'jose';
import type { Keyv } from 'keyv';
import type {
  ClientAuthMethod,
  OidcEndpoints,
  VerificationOptions,
} from './oidc-client-credentials-options.interface.js';

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
  clientSecret?: string;
  clientAuthMethod: ClientAuthMethod;
  privateKey?: JWK;
  clientAssertion: { audience: 'issuer' | 'token_endpoint'; explicitType: boolean };
  /** Token request parameters besides grant_type and client authentication, in a stable order. */
  tokenParams: [string, string][];
  tokenRenewal: {
    renewAfterFraction: number;
    renewBeforeExpirySeconds: number;
    defaultLifetimeSeconds: number;
    maxLifetimeSeconds: number;
    proactive: boolean;
    prefetch: boolean;
  };
  retry: { maxAttempts: number; initialDelayMs: number; maxDelayMs: number; deadlineMs: number };
  circuitBreaker: { failureThreshold: number; cooldownMs: number };
  http: { timeoutMs: number; maxResponseBytes: number };
  authorizedHttp: { retryOnUnauthorized: 'idempotent' | 'all' | 'never' };
  verification: Required<Omit<VerificationOptions, 'audience' | 'allowedClientIds' | 'realm'>> & {
    audience?: string[];
    allowedClientIds?: ReadonlySet<string>;
    realm?: string;
  };
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
