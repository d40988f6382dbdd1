import { Inject, Injectable, Logger, Optional, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost, ModulesContainer } from '@nestjs/core';
import { OIDC_CLIENT_CREDENTIALS_RESOLVED_OPTIONS } from '../../options/resolved-options.js';
import type { ResolvedOptions } from '../../options/resolved-options.js';
import { ANY_OF_SCOPES_METADATA, REQUIRED_SCOPES_METADATA } from '../require-scopes.decorator.js';
import { protectedResourceMetadata } from './resource-metadata.document.js';

/**
 * Serves `GET /.well-known/oauth-protected-resource` (with the resource's path appended, RFC 9728
 * §3.1) when `verification.resourceMetadata` is set. The route is registered on the HTTP adapter
 * itself (Express or Fastify) while the module initialises: outside every controller, so no guard,
 * interceptor or global prefix applies. Without an HTTP adapter (a microservice) nothing is served.
 */
@Injectable()
export class ResourceMetadataRoute implements OnModuleInit {
  private readonly logger = new Logger(ResourceMetadataRoute.name);

  constructor(
    @Inject(OIDC_CLIENT_CREDENTIALS_RESOLVED_OPTIONS) private readonly options: ResolvedOptions,
    private readonly modules: ModulesContainer,
    @Optional() private readonly adapterHost?: HttpAdapterHost,
  ) {}

  onModuleInit(): void {
    const configured = this.options.verification.resourceMetadata;
    const adapter = this.adapterHost?.httpAdapter;
    if (!configured) return;
    if (!adapter) {
      this.logger.warn(
        'verification.resourceMetadata is set, but the app has no HTTP server: the metadata is not served',
      );
      return;
    }
    const document = protectedResourceMetadata(this.options, this.collectedScopes());
    const body = JSON.stringify(document);
    adapter.get(configured.path, (_request: unknown, response: unknown) => {
      adapter.setHeader(response, 'Content-Type', 'application/json');
      adapter.setHeader(response, 'Cache-Control', 'public, max-age=3600');
      // Public metadata, read by browser-based clients of other origins too.
      adapter.setHeader(response, 'Access-Control-Allow-Origin', '*');
      adapter.reply(response, body, 200);
    });
  }

  /** Every scope `@RequireScopes()` and `@RequireScopes.any()` name on the app's controllers. */
  private collectedScopes(): string[] {
    const scopes = new Set<string>();
    const add = (target: object) => {
      for (const key of [REQUIRED_SCOPES_METADATA, ANY_OF_SCOPES_METADATA]) {
        const listed: unknown = Reflect.getMetadata(key, target);
        if (Array.isArray(listed)) {
          for (const scope of listed) if (typeof scope === 'string') scopes.add(scope);
        }
      }
    };
    for (const module of this.modules.values()) {
      for (const wrapper of module.controllers.values()) {
        const type = wrapper.metatype as (new (...args: never[]) => unknown) | null;
        if (typeof type !== 'function') continue;
        add(type);
        const prototype = type.prototype as Record<string, unknown>;
        for (const name of Object.getOwnPropertyNames(prototype)) {
          const member = Object.getOwnPropertyDescriptor(prototype, name)?.value;
          if (name !== 'constructor' && typeof member === 'function') add(member);
        }
      }
    }
    return [...scopes];
  }
}
