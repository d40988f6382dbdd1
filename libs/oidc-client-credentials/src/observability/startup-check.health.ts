import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { DiscoveryError } from '../errors/discovery.error.js';
import { TokenRequestError } from '../errors/token-request.error.js';
import { ValidatorUnavailableError } from '../errors/validator-unavailable.error.js';
import { IssuerMetadataProvider } from '../idp/issuer-metadata.provider.js';
import { hasClientCredentials } from '../options/identity-options.util.js';
import {
  OIDC_CLIENT_CREDENTIALS_RESOLVED_OPTIONS,
  type ResolvedOptions,
} from '../options/resolved-options.js';
import { TokenProviderRegistry } from '../outbound/token-provider-registry.provider.js';
import { IssuerRegistry } from '../strategies/issuers/issuer-registry.provider.js';
import { JwksProvider } from '../strategies/jwks.provider.js';
import { verificationEndpoint } from './oidc-client-credentials.health.js';

/** Starts every message of a failed startup check. */
const PREFIX = 'Startup check (verifyOnStartup)';

/**
 * `verifyOnStartup`: while the app starts, the parts the health indicator reports are checked once,
 * and the first failure stops the app (`app.init()` and `app.listen()` reject) with the typed
 * error of that part, its message naming the client and the endpoint:
 *
 * - outbound: a token for the root client (when it has a credential) and for every named client,
 *   through the usual retries: `TokenRequestError`;
 * - inbound: the JWKS (`jwt`, `auto`) or the presence of the introspection or userinfo endpoint
 *   of the root issuer, or of each one of `verification.issuers`,
 *   with discovery when an endpoint comes from it: `DiscoveryError` or `ValidatorUnavailableError`.
 *
 * What it fetches is kept (tokens, discovery, keys): the first requests find them in place.
 */
@Injectable()
export class OidcClientCredentialsStartupCheck implements OnApplicationBootstrap {
  constructor(
    @Inject(OIDC_CLIENT_CREDENTIALS_RESOLVED_OPTIONS) private readonly options: ResolvedOptions,
    private readonly metadata: IssuerMetadataProvider,
    private readonly jwks: JwksProvider,
    private readonly clients: TokenProviderRegistry,
    private readonly issuers: IssuerRegistry,
  ) {}

  /** Runs the checks `verifyOnStartup` selects; none by default. */
  async onApplicationBootstrap(): Promise<void> {
    const { outbound, inbound } = this.options.verifyOnStartup;
    await Promise.all([
      outbound ? this.verifyOutbound() : undefined,
      inbound ? this.verifyInboundIssuers() : undefined,
    ]);
  }

  /** A token for every client that has credentials: the root one, and each named one. */
  private async verifyOutbound(): Promise<void> {
    const names = new Set([...this.clients.names(), ...Object.keys(this.options.clients)]);
    const clients = [...names]
      .map((name) => this.clients.get(name))
      .filter((client) => client.status().configured);
    await Promise.all(
      clients.map(async (client) => {
        try {
          await client.getToken();
        } catch (error) {
          if (!(error instanceof TokenRequestError)) throw error;
          const from = await this.tokenEndpointFor(error, client.clientName);
          throw new TokenRequestError(
            error.code,
            `${PREFIX}: client "${client.clientName}" got no token${from}: ${error.message}`,
            error.details,
          );
        }
      }),
    );
  }

  /**
   * ` from <token endpoint>` when the failure happened there and its message does not name it
   * (a discovery failure names the discovery URL).
   */
  private async tokenEndpointFor(error: TokenRequestError, client: string): Promise<string> {
    if (error.code === 'OIDC_CC_DISCOVERY_FAILED') return '';
    // A named client at an issuer of its own has that issuer's token endpoint.
    const token_endpoint = await this.clients
      .metadataOf(client)
      .require('token_endpoint')
      .then((metadata) => metadata.token_endpoint)
      .catch(() => undefined);
    if (token_endpoint === undefined) return '';
    const url = forMessage(token_endpoint);
    return error.message.includes(url) ? '' : ` from ${url}`;
  }

  /** Each trusted issuer of `verification.issuers`, else the root issuer. */
  private async verifyInboundIssuers(): Promise<void> {
    const { verifiers } = this.issuers;
    if (verifiers.length === 0) {
      return this.verifyInbound({
        options: this.options,
        metadata: this.metadata,
        jwks: this.jwks,
      });
    }
    await Promise.all(verifiers.map((verifier) => this.verifyInbound(verifier)));
  }

  /** What an issuer's verification strategy needs of it before a token arrives. */
  private async verifyInbound(issuer: InboundIssuer): Promise<void> {
    const { strategy } = issuer.options.verification;
    // An application's own strategy: what it needs is its own business.
    if (typeof strategy !== 'string') return;
    try {
      const endpoint = verificationEndpoint(strategy);
      if (endpoint !== undefined) {
        await issuer.metadata.require(endpoint);
      } else if (strategy === 'auto' && !(await hasJwksUri(issuer))) {
        // auto without a JWKS introspects every token; without credentials it refuses them all.
        const needed = hasClientCredentials(issuer.options) ? 'introspection_endpoint' : 'jwks_uri';
        await issuer.metadata.require(needed);
      } else {
        await verifyJwks(issuer);
      }
    } catch (error) {
      if (error instanceof DiscoveryError) throw new DiscoveryError(`${PREFIX}: ${error.message}`);
      throw error;
    }
  }
}

/** What an inbound issuer is checked with: its options, metadata and JWKS. */
interface InboundIssuer {
  readonly options: ResolvedOptions;
  readonly metadata: IssuerMetadataProvider;
  readonly jwks: JwksProvider;
}

async function hasJwksUri(issuer: InboundIssuer): Promise<boolean> {
  if (issuer.options.endpoints.jwks) return true;
  return (await issuer.metadata.discover()).jwks_uri !== undefined;
}

/** The JWKS loads and holds at least one key. */
async function verifyJwks(issuer: InboundIssuer): Promise<void> {
  const url = forMessage((await issuer.metadata.require('jwks_uri')).jwks_uri!);
  let keys: number;
  try {
    keys = (await issuer.jwks.keySet()).length;
  } catch (error) {
    if (!(error instanceof ValidatorUnavailableError)) throw error;
    const what = error.message.includes(url)
      ? error.message
      : `the JWKS at ${url} could not be loaded: ${error.message}`;
    throw new ValidatorUnavailableError(error.code, `${PREFIX}: ${what}`, {
      cause: error.cause,
    });
  }
  if (keys === 0) {
    throw new ValidatorUnavailableError(
      'OIDC_CC_JWKS_UNAVAILABLE',
      `${PREFIX}: the JWKS at ${url} holds no keys`,
    );
  }
}

/** An endpoint URL as a message shows it: origin and path (a query may carry credentials). */
function forMessage(url: string): string {
  const parsed = new URL(url);
  return `${parsed.origin}${parsed.pathname}`;
}
