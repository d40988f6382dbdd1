import { Controller, Injectable, UseGuards, type ModuleMetadata, type Type } from '@nestjs/common';
import {
  ClientsModule,
  EventPattern,
  MessagePattern,
  Payload,
  type ClientProvider,
  type ClientProxy,
} from '@nestjs/microservices';
import {
  ClientCredentialsRpcClient,
  ClientId,
  ClientTokenGuard,
  OidcClientCredentialsModule,
  RequireScopes,
  TokenClaims,
  TokenProvider,
  type RpcTokenTransport,
  type VerifiedToken,
} from 'nest-oidc-client-credentials';
import { createTestingOptions, FakeIdService } from 'nest-oidc-client-credentials/testing';

/** What the guarded `whoami` handler answers: who called, with which scopes, what it received. */
export interface Caller {
  clientId: string;
  scopes: string[];
  /** The names of the payload's members (never their values: one may be a token). */
  payloadKeys: string[];
}

/** An event the guarded event handler ran for. */
export interface ReceivedEvent {
  clientId: string;
  payload: unknown;
}

/** The events the guarded event handler ran for, awaited one by one. */
@Injectable()
export class ReceivedEvents {
  private readonly received: ReceivedEvent[] = [];
  private readonly waiting: ((event: ReceivedEvent) => void)[] = [];

  push(event: ReceivedEvent): void {
    const waiter = this.waiting.shift();
    if (waiter) waiter(event);
    else this.received.push(event);
  }

  /** The next event, once the handler has run for it. */
  next(): Promise<ReceivedEvent> {
    const event = this.received.shift();
    return event ? Promise.resolve(event) : new Promise((resolve) => this.waiting.push(resolve));
  }
}

/** The patterns of one run's handlers: subjects, topics and channels no other run uses. */
export const patternsOf = (prefix: string) => ({
  whoami: `${prefix}.whoami`,
  list: `${prefix}.list`,
  created: `${prefix}.created`,
});

/** Guarded message and event handlers under the run's own patterns. */
function ordersMessages(prefix: string): Type {
  const patterns = patternsOf(prefix);

  @Controller()
  @UseGuards(ClientTokenGuard)
  class OrdersMessages {
    constructor(private readonly events: ReceivedEvents) {}

    @MessagePattern(patterns.whoami)
    whoami(
      @ClientId() clientId: string,
      @TokenClaims() token: VerifiedToken,
      @Payload() payload: unknown,
    ): Caller {
      const payloadKeys =
        typeof payload === 'object' && payload !== null ? Object.keys(payload) : [];
      return { clientId, scopes: [...token.scopes], payloadKeys };
    }

    @MessagePattern(patterns.list)
    @RequireScopes('orders:read')
    list(@ClientId() clientId: string): string[] {
      return [`order-of-${clientId}`];
    }

    @EventPattern<string>(patterns.created)
    created(@Payload() payload: unknown, @ClientId() clientId: string): void {
      this.events.push({ clientId, payload });
    }
  }
  return OrdersMessages;
}

/**
 * The ID service of the broker specs: this API (`orders-api`, it introspects) and its caller
 * `billing`, whose opaque tokens (verified by introspection, so they can be revoked) carry
 * `orders:read` for `orders-api`.
 */
export function startBrokersIdService(): Promise<FakeIdService> {
  return FakeIdService.start({
    clients: {
      'orders-api': { secret: 'orders-secret' },
      billing: {
        secret: 'billing-secret',
        scope: 'orders:read',
        audience: 'orders-api',
        tokenFormat: 'opaque',
      },
    },
  });
}

/** The microservice: guarded handlers under `prefix`, verifying tokens at the ID service. */
export function ordersServiceModule(idp: FakeIdService, prefix: string): ModuleMetadata {
  return {
    imports: [
      OidcClientCredentialsModule.forRoot(
        createTestingOptions(idp, {
          clientId: 'orders-api',
          verification: { realm: 'orders', audience: 'orders-api', retryAfterSeconds: 7 },
        }),
      ),
    ],
    controllers: [ordersMessages(prefix)],
    providers: [ReceivedEvents],
  };
}

/** The injection token of the caller's `ClientProxy`. */
export const ORDERS_CLIENT = 'ORDERS_CLIENT';

/**
 * The caller, `billing`: its `TokenProvider`, a `ClientProxy` of the broker's transport from
 * `ClientsModule`, and a `ClientCredentialsRpcClient` over both, as docs/transports.md shows.
 */
export function billingModule(
  idp: FakeIdService,
  client: ClientProvider,
  transport: RpcTokenTransport,
): ModuleMetadata {
  return {
    imports: [
      OidcClientCredentialsModule.forRoot(createTestingOptions(idp, { clientId: 'billing' })),
      ClientsModule.register([{ name: ORDERS_CLIENT, ...client }]),
    ],
    providers: [
      {
        provide: ClientCredentialsRpcClient,
        useFactory: (proxy: ClientProxy, tokens: TokenProvider) =>
          new ClientCredentialsRpcClient(proxy, tokens, { transport }),
        inject: [ORDERS_CLIENT, TokenProvider],
      },
    ],
  };
}
