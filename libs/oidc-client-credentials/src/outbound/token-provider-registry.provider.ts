import { createHash } from 'node:crypto';
import {
  Inject,
  Injectable,
  Optional,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
  type OnModuleDestroy,
  type OnModuleInit,
} from '@nestjs/common';
import { ClientCredentialsHttpService } from './client-credentials-http.service.js';
import { httpServiceAxios } from './http-service-transport.util.js';
import { ConfigurationError } from '../errors/configuration.error.js';
import type {
  NamedClientOptions,
  OidcClientCredentialsModuleOptions,
} from '../options/oidc-client-credentials-options.interface.js';
import { IssuerMetadataProvider } from '../idp/issuer-metadata.provider.js';
import { OidcClientCredentialsEvents } from '../observability/oidc-client-credentials-events.provider.js';
import { OIDC_CLIENT_CREDENTIALS_MODULE_OPTIONS } from '../oidc-client-credentials.module-definition.js';
import { OIDC_CLIENT_CREDENTIALS_RESOLVED_OPTIONS } from '../options/resolved-options.js';
import { SharedCache } from '../cache/shared-cache.provider.js';
import { TokenProvider } from './token.provider.js';
import { resolveNamedClient } from '../options/named-client-options.util.js';
import { DEFAULT_CLIENT_NAME, type ResolvedOptions } from '../options/resolved-options.js';

/**
 * Every outbound client of one module: the root client (`'default'`) and the named ones, each a
 * {@link TokenProvider} with its own cache entry, single flight and circuit, all sharing the shared
 * cache and the events. Clients of the root issuer share its discovery; a client with an `issuer`
 * of its own has that issuer's discovery (one per issuer).
 *
 * Inject a client by name with `@InjectTokenProvider('billing')`; use the registry itself to pick
 * one at run time. A named client is created once, on first use, whoever asks for it.
 *
 * @example
 * constructor(private readonly clients: TokenProviderRegistry) {}
 * const token = await this.clients.get(tenant.clientName).getToken();
 */
@Injectable()
export class TokenProviderRegistry
  implements OnModuleInit, OnApplicationBootstrap, OnModuleDestroy, OnApplicationShutdown
{
  private readonly providers = new Map<string, TokenProvider>();
  private readonly httpServices = new Map<string, ClientCredentialsHttpService>();
  /** Digest of the `forFeature` options a named client was created with (none: as configured). */
  private readonly definitions = new Map<string, string | undefined>();
  /** The discovery of each other issuer a named client gets its tokens from. */
  private readonly issuerMetadata = new Map<string, IssuerMetadataProvider>();
  /** The discovery each named client created so far uses. */
  private readonly clientMetadata = new Map<string, IssuerMetadataProvider>();
  /** The `mtls` certificate of each named client that has one, for its HttpService. */
  private readonly certificates = new Map<string, ResolvedOptions['mtls']>();

  constructor(
    @Inject(OIDC_CLIENT_CREDENTIALS_MODULE_OPTIONS)
    private readonly moduleOptions: OidcClientCredentialsModuleOptions,
    @Inject(OIDC_CLIENT_CREDENTIALS_RESOLVED_OPTIONS) private readonly options: ResolvedOptions,
    defaultProvider: TokenProvider,
    private readonly metadata: IssuerMetadataProvider,
    @Optional() private readonly sharedCache?: SharedCache,
    @Optional() private readonly events?: OidcClientCredentialsEvents,
  ) {
    this.providers.set(DEFAULT_CLIENT_NAME, defaultProvider);
  }

  /** Imports the private keys of the named clients created at startup, so a bad key fails it. */
  async onModuleInit(): Promise<void> {
    await Promise.all(this.named().map((provider) => provider.onModuleInit()));
  }

  /** Prefetches the named clients' tokens (`tokenRenewal.prefetch`); Nest calls the root's. */
  async onApplicationBootstrap(): Promise<void> {
    await Promise.all(this.named().map((provider) => provider.onApplicationBootstrap()));
  }

  /** Stops the named clients' renewal timers; Nest stops the root's. */
  onModuleDestroy(): void {
    for (const provider of this.named()) provider.onModuleDestroy();
  }

  /** See {@link onModuleDestroy}. */
  onApplicationShutdown(): void {
    for (const provider of this.named()) provider.onApplicationShutdown();
    // The other issuers' connections (Nest closes the root issuer's).
    for (const metadata of this.issuerMetadata.values()) void metadata.onApplicationShutdown();
  }

  /** The named clients created so far (the root client is Nest's own provider). */
  private named(): TokenProvider[] {
    return [...this.providers]
      .filter(([name]) => name !== DEFAULT_CLIENT_NAME)
      .map(([, provider]) => provider);
  }

  /**
   * The client of this name: `'default'` (the root client) or one configured under `clients` or
   * registered with `forFeature`.
   *
   * @throws ConfigurationError when no client of this name is configured.
   */
  get(name: string = DEFAULT_CLIENT_NAME): TokenProvider {
    return this.providers.get(name) ?? this.register(name);
  }

  /**
   * The token-attaching HttpService of the client of this name (see {@link get}), created once
   * with the module's `authorizedHttp` options. The root client's is the injectable
   * `ClientCredentialsHttpService`.
   */
  httpService(name: string = DEFAULT_CLIENT_NAME): ClientCredentialsHttpService {
    let service = this.httpServices.get(name);
    if (service === undefined) {
      const tokens = this.get(name);
      const mtls = name === DEFAULT_CLIENT_NAME ? this.options.mtls : this.certificates.get(name);
      service = new ClientCredentialsHttpService(
        tokens,
        { ...this.options.authorizedHttp, allowInsecureHttp: this.options.allowInsecureHttp },
        httpServiceAxios(mtls),
      );
      this.httpServices.set(name, service);
    }
    return service;
  }

  /**
   * The discovery of a client's issuer: the root's for a client of the root issuer, else one per
   * distinct issuer and token endpoint, with its own retries and refresh.
   */
  private metadataFor(client: ResolvedOptions): IssuerMetadataProvider {
    if (client.issuer === this.options.issuer && client.endpoints === this.options.endpoints) {
      return this.metadata;
    }
    const key = JSON.stringify([client.issuer, client.endpoints.token?.href ?? null]);
    let metadata = this.issuerMetadata.get(key);
    if (metadata === undefined) {
      metadata = new IssuerMetadataProvider(client);
      this.issuerMetadata.set(key, metadata);
    }
    return metadata;
  }

  /**
   * The issuer metadata (discovery) the client of this name gets its tokens with: the root's, or
   * its own issuer's. The client is created if it was not yet (see {@link get}).
   */
  metadataOf(name: string = DEFAULT_CLIENT_NAME): IssuerMetadataProvider {
    this.get(name);
    return this.clientMetadata.get(name) ?? this.metadata;
  }

  /** Names of the clients in use: `'default'` first, then the named ones created so far. */
  names(): string[] {
    return [...this.providers.keys()];
  }

  /**
   * Creates (or returns) a named client: `clients[name]` of the module options with `options`
   * (from `forFeature`) on top. A name has one definition: every `forFeature` of it must pass the
   * same options, and a name created from `clients` alone takes none.
   *
   * @throws ConfigurationError naming the option at fault.
   */
  register(name: string, options?: NamedClientOptions): TokenProvider {
    const label = options === undefined ? `clients.${name}` : `forFeature('${name}')`;
    if (name === DEFAULT_CLIENT_NAME && options === undefined) return this.get();
    const definition = options === undefined ? undefined : digest(options);
    const existing = this.providers.get(name);
    if (existing !== undefined) {
      if (this.definitions.get(name) !== definition) {
        throw new ConfigurationError(
          label,
          `client "${name}" is already defined with other options; define it once (in clients.${name} or with one forFeature('${name}', options) module that you import wherever it is needed)`,
        );
      }
      return existing;
    }
    const clients = this.moduleOptions.clients;
    const configured = clients && Object.hasOwn(clients, name) ? clients[name] : undefined;
    if (configured === undefined && options === undefined) {
      const known = Object.keys(this.options.clients);
      throw new ConfigurationError(
        `clients.${name}`,
        `no client "${name}" is configured (${known.length > 0 ? `configured: ${known.join(', ')}` : 'the options define no named clients'}); add it under clients or pass its options to forFeature('${name}', { … })`,
      );
    }
    const resolved =
      options === undefined
        ? this.options.clients[name]
        : resolveNamedClient(
            this.moduleOptions,
            this.options,
            name,
            { ...sameIdentity(configured, options), ...options },
            label,
          );
    const metadata = this.metadataFor(resolved);
    const provider = new TokenProvider(resolved, metadata, this.sharedCache, this.events);
    this.clientMetadata.set(name, metadata);
    this.providers.set(name, provider);
    this.definitions.set(name, definition);
    if (resolved.mtls !== undefined) this.certificates.set(name, resolved.mtls);
    return provider;
  }
}

/**
 * The configured options that still apply under `forFeature` options: all of them, unless those
 * name another client id — a secret or key never goes with a client id it was not configured for.
 */
function sameIdentity(
  configured: NamedClientOptions | undefined,
  options: NamedClientOptions,
): NamedClientOptions | undefined {
  if (configured === undefined || options.clientId === undefined) return configured;
  if (options.clientId === configured.clientId) return configured;
  // Where the client gets its tokens is not a secret: it stays.
  const { scope, audience, resource, extraParams, issuer, endpoints } = configured;
  return { scope, audience, resource, extraParams, issuer, endpoints };
}

/** A digest of a client's options, to tell two definitions apart without keeping a copy of them. */
function digest(options: NamedClientOptions): string {
  return createHash('sha256').update(stableJson(options)).digest('base64url');
}

function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value)
      .filter(([, item]) => item !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${stableJson(item)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
