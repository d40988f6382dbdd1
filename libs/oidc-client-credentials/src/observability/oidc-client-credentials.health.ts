import { Inject, Injectable, Optional } from '@nestjs/common';
import { ConfigurationError } from '../errors/configuration.error.js';
import { errorCode } from '../errors/error-code.util.js';
import { IssuerMetadataProvider, type EndpointName } from '../idp/issuer-metadata.provider.js';
import { IssuerRegistry } from '../strategies/issuers/issuer-registry.provider.js';
import type { IssuerVerifier } from '../strategies/issuers/issuer-verifier.util.js';
import { JwksProvider } from '../strategies/jwks.provider.js';
import { OIDC_CLIENT_CREDENTIALS_RESOLVED_OPTIONS } from '../options/resolved-options.js';
import { TokenProviderRegistry } from '../outbound/token-provider-registry.provider.js';
import type { TokenProvider } from '../outbound/token.provider.js';
import type { ResolvedOptions } from '../options/resolved-options.js';

/**
 * Status of a health check part, as @nestjs/terminus counts them: `down` fails the check (503),
 * `degraded` keeps it passing (200) but flags it.
 */
export type OidcClientCredentialsHealthStatus = 'up' | 'degraded' | 'down';

/** Which parts {@link OidcClientCredentialsHealthIndicator.isHealthy} reports. */
export interface OidcClientCredentialsHealthCheckOptions {
  /**
   * Outbound clients whose token endpoint health is reported, by name (`'default'` is the root
   * client). Default: every client in use — the root one when it has credentials, and the named
   * ones created so far. `false`: none.
   */
  clients?: string[] | false;
  /** Report the JWKS. Default: when the verification strategy is `'jwt'` or `'auto'`. */
  jwks?: boolean;
  /** Report discovery. Default: when an endpoint this configuration uses is not set explicitly. */
  discovery?: boolean;
  /**
   * Longest wait for a token acquisition the check starts (when a client has no token); the
   * acquisition goes on for its callers after that. Default `http.timeoutMs`.
   */
  timeoutMs?: number;
}

/**
 * Discovery: the issuer's metadata could be fetched (kept, and fetched again after a day or when
 * an endpoint it names stops answering), with the endpoint of the `introspection` or `userinfo` strategy in it.
 */
export type OidcDiscoveryHealth = {
  status: OidcClientCredentialsHealthStatus;
  /** Error code when down. */
  error?: string;
};

/**
 * The JWKS: keys usable now (`degraded`: the last known keys, while the endpoint fails; `down`:
 * none, or a JWKS without keys).
 */
export type OidcJwksHealth = {
  status: OidcClientCredentialsHealthStatus;
  /** Keys of the last successful fetch. */
  keys?: number;
  /** Seconds since that fetch. */
  ageSeconds?: number;
  /** Error code when down. */
  error?: string;
};

/**
 * One outbound client: `up` with a valid token and a healthy endpoint, `degraded` with a valid
 * token while the endpoint fails (circuit not closed, or the last acquisition failed), `down`
 * without a token.
 */
export type OidcClientHealth = {
  status: OidcClientCredentialsHealthStatus;
  /** The token endpoint's circuit breaker. */
  circuit: 'closed' | 'open' | 'half-open';
  /** Seconds until the cached token stops being handed out. */
  expiresInSeconds?: number;
  /** Error code of the last failed acquisition, when down or degraded. */
  error?: string;
  /**
   * Which credential the client authenticates with (`secret`, `secret-provider`,
   * `assertion-file`, `assertion-provider`, `private-key`, `signer`, `certificate`) and when it was last read
   * (ISO 8601), never its value; absent before the first token request.
   */
  credential?: { source: string; lastReadAt?: string };
};

/** What the indicator reports under its key. */
export type OidcClientCredentialsHealthDetails = {
  /** The worst status of the parts. */
  status: OidcClientCredentialsHealthStatus;
  discovery?: OidcDiscoveryHealth;
  jwks?: OidcJwksHealth;
  /**
   * With `verification.issuers`: each trusted issuer in configured order (the discovery and JWKS
   * the root's `discovery` and `jwks` report otherwise).
   */
  issuers?: OidcIssuerHealth[];
  /** By client name. */
  clients?: Record<string, OidcClientHealth>;
};

/** One trusted issuer of `verification.issuers`: its discovery (when used) and JWKS (`jwt`, `auto`). */
export type OidcIssuerHealth = {
  status: OidcClientCredentialsHealthStatus;
  discovery?: OidcDiscoveryHealth;
  jwks?: OidcJwksHealth;
};

/** A terminus `HealthIndicatorResult`: the details under the key given to `isHealthy`. */
export type OidcClientCredentialsHealthResult<Key extends string = string> = Record<
  Key,
  OidcClientCredentialsHealthDetails
>;

const RANK: Record<OidcClientCredentialsHealthStatus, number> = { up: 0, degraded: 1, down: 2 };

/**
 * A @nestjs/terminus health indicator for the ID service as this module uses it: discovery, the
 * JWKS (when JWTs are verified locally), each outbound client's token endpoint health and the
 * seconds until its cached token expires.
 *
 * It calls the ID service no more often than the module itself would: discovery only when due,
 * the JWKS only when due, and a token only for a client that has none (through the usual single
 * flight, cooldowns and circuit breaker) — a check never forces a renewal. Details hold statuses,
 * numbers and error codes only: no token, secret, client id or URL.
 *
 * Results have terminus's shape, and the module does not import terminus: register nothing, use
 * it from your health controller. Written for terminus 12 (`up`, `degraded`, `down`).
 *
 * @example
 * @Get('health') @HealthCheck()
 * check() { return this.health.check([() => this.oidc.isHealthy('oidc')]); }
 */
@Injectable()
export class OidcClientCredentialsHealthIndicator {
  constructor(
    @Inject(OIDC_CLIENT_CREDENTIALS_RESOLVED_OPTIONS) private readonly options: ResolvedOptions,
    private readonly metadata: IssuerMetadataProvider,
    private readonly jwks: JwksProvider,
    private readonly clients: TokenProviderRegistry,
    @Optional() private readonly issuers?: IssuerRegistry,
  ) {}

  /**
   * Checks the parts selected by `options` and reports them under `key`, with the worst status.
   * With `verification.issuers`, the JWKS and discovery of each trusted issuer are reported under
   * `issuers` (unless `options.jwks` / `options.discovery` is `false`), the root's only for what
   * the root itself still uses (its clients' token endpoint).
   *
   * @throws ConfigurationError when `options.clients` names a client that is not configured.
   */
  async isHealthy<const Key extends string>(
    key: Key,
    options: OidcClientCredentialsHealthCheckOptions = {},
  ): Promise<OidcClientCredentialsHealthResult<Key>> {
    const clients = this.selectedClients(options.clients);
    const timeoutMs = options.timeoutMs ?? this.options.http.timeoutMs;
    const trusted = this.issuers?.verifiers ?? [];
    const root = trusted.length === 0 ? this.options.verification.strategy : undefined;
    const [discovery, jwks, issuerResults, clientResults] = await Promise.all([
      (options.discovery ?? usesDiscovery(this.options, root, clients.length > 0))
        ? discoveryHealth(this.metadata, root)
        : undefined,
      (options.jwks ?? usesJwks(root)) ? jwksHealth(this.jwks) : undefined,
      Promise.all(trusted.map((issuer) => issuerHealth(issuer, options))),
      Promise.all(
        clients.map(async (client): Promise<[string, OidcClientHealth]> => [
          client.clientName,
          await clientHealth(client, timeoutMs),
        ]),
      ),
    ]);
    const details: OidcClientCredentialsHealthDetails = {
      status: 'up',
      ...(discovery ? { discovery } : {}),
      ...(jwks ? { jwks } : {}),
      ...(issuerResults.length > 0 ? { issuers: issuerResults } : {}),
      ...(clientResults.length > 0 ? { clients: Object.fromEntries(clientResults) } : {}),
    };
    const parts = [discovery, jwks, ...issuerResults, ...clientResults.map(([, result]) => result)];
    for (const part of parts) {
      if (part && RANK[part.status] > RANK[details.status]) details.status = part.status;
    }
    return { [key]: details } as OidcClientCredentialsHealthResult<Key>;
  }

  private selectedClients(selection: string[] | false | undefined): TokenProvider[] {
    if (selection === false) return [];
    if (selection === undefined) {
      return this.clients
        .names()
        .map((name) => this.clients.get(name))
        .filter((client) => client.status().configured);
    }
    if (!Array.isArray(selection)) {
      throw new ConfigurationError('isHealthy().clients', 'expected a list of client names');
    }
    return selection.map((name) => this.clients.get(name));
  }
}

type Strategy = ResolvedOptions['verification']['strategy'] | undefined;

/**
 * Whether an endpoint in use comes from discovery rather than from `endpoints`: the token
 * endpoint when clients are reported, and what `strategy` verifies with (none: not verified here).
 */
function usesDiscovery(options: ResolvedOptions, strategy: Strategy, tokens: boolean): boolean {
  const used: (keyof ResolvedOptions['endpoints'])[] = tokens ? ['token'] : [];
  switch (strategy) {
    case 'jwt':
      used.push('jwks');
      break;
    case 'introspection':
      used.push('introspection');
      break;
    case 'userinfo':
      used.push('userinfo');
      break;
    case 'auto':
      used.push('jwks', 'introspection');
      break;
  }
  return used.some((endpoint) => options.endpoints[endpoint] === undefined);
}

function usesJwks(strategy: Strategy): boolean {
  return strategy === 'jwt' || strategy === 'auto';
}

async function discoveryHealth(
  metadata: IssuerMetadataProvider,
  strategy: Strategy,
): Promise<OidcDiscoveryHealth> {
  try {
    await metadata.discover();
    // Metadata without the endpoint the strategy verifies with is no better than none.
    const endpoint = strategy === undefined ? undefined : verificationEndpoint(strategy);
    if (endpoint !== undefined) await metadata.require(endpoint);
    return { status: 'up' };
  } catch (error) {
    return { status: 'down', error: codeOf(error) };
  }
}

async function jwksHealth(jwks: JwksProvider): Promise<OidcJwksHealth> {
  try {
    await jwks.keySet();
  } catch (error) {
    return { status: 'down', error: codeOf(error) };
  }
  const { keyCount, fetchedAt, stale } = jwks.status();
  // A JWKS without keys verifies nothing.
  if (keyCount === 0) return { status: 'down', keys: 0, error: 'OIDC_CC_JWKS_UNAVAILABLE' };
  return {
    status: stale ? 'degraded' : 'up',
    keys: keyCount,
    ...(fetchedAt === undefined
      ? {}
      : { ageSeconds: Math.max(0, Math.floor((Date.now() - fetchedAt) / 1000)) }),
    ...(stale ? { error: 'OIDC_CC_JWKS_UNAVAILABLE' } : {}),
  };
}

/** One trusted issuer: its discovery when an endpoint comes from it, its JWKS when used. */
async function issuerHealth(
  issuer: IssuerVerifier,
  options: OidcClientCredentialsHealthCheckOptions,
): Promise<OidcIssuerHealth> {
  const strategy = issuer.strategyName;
  const [discovery, jwks] = await Promise.all([
    options.discovery !== false && usesDiscovery(issuer.options, strategy, false)
      ? discoveryHealth(issuer.metadata, strategy)
      : undefined,
    options.jwks !== false && usesJwks(strategy) ? jwksHealth(issuer.jwks) : undefined,
  ]);
  const statuses = [discovery?.status ?? 'up', jwks?.status ?? 'up'];
  const status = statuses.reduce((worst, next) => (RANK[next] > RANK[worst] ? next : worst));
  return { status, ...(discovery ? { discovery } : {}), ...(jwks ? { jwks } : {}) };
}

/**
 * The endpoint the `introspection` and `userinfo` strategies cannot verify a token without (the
 * JWKS of `jwt` and `auto` has a part of its own).
 */
export function verificationEndpoint(
  strategy: ResolvedOptions['verification']['strategy'],
): EndpointName | undefined {
  if (strategy === 'introspection') return 'introspection_endpoint';
  if (strategy === 'userinfo') return 'userinfo_endpoint';
  return undefined;
}

/** A client's health from memory; only a client without a token is asked for one. */
async function clientHealth(client: TokenProvider, timeoutMs: number): Promise<OidcClientHealth> {
  let status = client.status();
  let error: string | undefined;
  if (status.tokenExpiresAt === undefined) {
    try {
      await client.getTokenResponse({ signal: AbortSignal.timeout(timeoutMs) });
    } catch (failure) {
      error = codeOf(failure);
    }
    status = client.status();
  }
  const { circuit, tokenExpiresAt, lastAcquisition } = status;
  const credential = status.credential && {
    credential: {
      source: status.credential.source,
      ...(status.credential.readAt === undefined
        ? {}
        : { lastReadAt: new Date(status.credential.readAt).toISOString() }),
    },
  };
  if (tokenExpiresAt === undefined) {
    return {
      status: 'down',
      circuit,
      error: error ?? lastAcquisition?.code ?? 'UNEXPECTED_ERROR',
      ...credential,
    };
  }
  const failing = circuit !== 'closed' || lastAcquisition?.ok === false;
  return {
    status: failing ? 'degraded' : 'up',
    circuit,
    ...credential,
    expiresInSeconds: Math.max(0, Math.floor((tokenExpiresAt - Date.now()) / 1000)),
    ...(failing && lastAcquisition?.code ? { error: lastAcquisition.code } : {}),
  };
}

/** This library's code of the error (a health answer names no other library's codes). */
function codeOf(error: unknown): string {
  const code = errorCode(error);
  if (code !== undefined && /^OIDC_CC_[A-Z_]+$/.test(code)) return code;
  // The check's own wait ran out; the acquisition goes on.
  if ((error as { name?: unknown } | null | undefined)?.name === 'TimeoutError') {
    return 'HEALTH_CHECK_TIMEOUT';
  }
  return 'UNEXPECTED_ERROR';
}
