import { ApolloDriver, type ApolloDriverConfig } from '@nestjs/apollo';
import { Injectable, UseGuards, type ModuleMetadata } from '@nestjs/common';
import { Args, GraphQLModule, Mutation, Query, Resolver, Subscription } from '@nestjs/graphql';
import { MercuriusDriver, type MercuriusDriverConfig } from '@nestjs/mercurius';
import {
  ClientId,
  ClientTokenGuard,
  GraphqlWsAuthentication,
  OidcClientCredentialsModule,
  Public,
  RequireScopes,
  TokenClaims,
  type VerifiedToken,
} from 'nest-oidc-client-credentials';
import { createTestingOptions, type FakeIdService } from 'nest-oidc-client-credentials/testing';
import { caller, type Caller } from './app.module.js';

const TYPE_DEFS = /* GraphQL */ `
  type Caller {
    clientId: String!
    scopes: [String!]!
  }
  type Query {
    whoami: Caller
    orders: [String!]
    orderCount: Int!
  }
  type Mutation {
    placeOrder(item: String!): String
  }
  type Subscription {
    callers: Caller
    orderEvents: String
    publicCallers: String
  }
`;

/**
 * The subscriptions' event streams: each sends one event, then stays open until its operation
 * ends (the client completes it, or the connection closes). Counts the open ones, so a test can
 * see a closed connection end its subscriptions.
 */
@Injectable()
export class SubscriptionFeeds {
  private open = 0;
  private idle: (() => void)[] = [];

  /** Resolves once no subscription is open. */
  allEnded(): Promise<void> {
    return this.open === 0 ? Promise.resolve() : new Promise((resolve) => this.idle.push(resolve));
  }

  /** Whether some subscription is open. */
  anyOpen(): boolean {
    return this.open > 0;
  }

  /** A stream that sends `first`, then nothing until it is ended. */
  feed<T>(first: T): AsyncIterableIterator<T> {
    this.open += 1;
    let sent = false;
    let running = true;
    let finish!: () => void;
    const ended = new Promise<IteratorResult<T>>((resolve) => {
      finish = () => resolve({ done: true, value: undefined });
    });
    return {
      next: () => {
        if (sent) return ended;
        sent = true;
        return Promise.resolve({ done: false, value: first });
      },
      return: () => {
        if (running) {
          running = false;
          this.ended();
        }
        finish();
        return ended;
      },
      [Symbol.asyncIterator]() {
        return this;
      },
    };
  }

  private ended(): void {
    this.open -= 1;
    if (this.open === 0) for (const resolve of this.idle.splice(0)) resolve();
  }
}

/** Queries, a mutation and subscriptions, all guarded; the token comes with the HTTP request or the connection. */
@Resolver()
@UseGuards(ClientTokenGuard)
class OrdersResolver {
  constructor(private readonly feeds: SubscriptionFeeds) {}

  @Query('whoami')
  whoami(@ClientId() clientId: string, @TokenClaims() token: VerifiedToken): Caller {
    return caller(clientId, token);
  }

  @Query('orders')
  @RequireScopes('orders:read')
  orders(@ClientId() clientId: string): string[] {
    return [`order-of-${clientId}`];
  }

  @Query('orderCount')
  @RequireScopes('orders:read')
  orderCount(): number {
    return 1;
  }

  @Mutation('placeOrder')
  @RequireScopes('orders:write')
  placeOrder(@ClientId() clientId: string, @Args('item') item: string): string {
    return `${item} for ${clientId}`;
  }

  @Subscription('callers')
  callers(@ClientId() clientId: string, @TokenClaims() token: VerifiedToken) {
    return this.feeds.feed({ callers: caller(clientId, token) });
  }

  @Subscription('orderEvents')
  @RequireScopes('orders:read')
  orderEvents(@ClientId() clientId: string) {
    return this.feeds.feed({ orderEvents: `order-of-${clientId}` });
  }

  /** A mistake the decorator must catch: @ClientId() on a subscription the guard does not check. */
  @Subscription('publicCallers')
  @Public()
  publicCallers(@ClientId() clientId: string) {
    return this.feeds.feed({ publicCallers: clientId });
  }
}

/** The library, global so that the GraphQL module's factory can inject its connection check. */
function oidc(idp: FakeIdService) {
  return OidcClientCredentialsModule.forRoot({
    ...createTestingOptions(idp, { verification: { realm: 'orders', retryAfterSeconds: 7 } }),
    isGlobal: true,
  });
}

/**
 * Apollo on the platform's HTTP server, with subscriptions over graphql-ws: each connection is
 * authenticated at `connection_init` and closed when its token expires.
 */
export function apolloAppModule(idp: FakeIdService): ModuleMetadata {
  return {
    imports: [
      oidc(idp),
      GraphQLModule.forRootAsync<ApolloDriverConfig>({
        driver: ApolloDriver,
        // The module provides the connection check.
        inject: [GraphqlWsAuthentication],
        useFactory: (connections: GraphqlWsAuthentication) => {
          return {
            typeDefs: TYPE_DEFS,
            playground: false,
            introspection: false,
            subscriptions: {
              'graphql-ws': { onConnect: connections.onConnect, onClose: connections.onClose },
            },
          };
        },
      }),
    ],
    providers: [OrdersResolver, SubscriptionFeeds],
  };
}

/**
 * Mercurius on Fastify, with subscriptions: each connection is authenticated at
 * `connection_init`; Mercurius copies the payload into the request headers the guard reads.
 */
export function mercuriusAppModule(idp: FakeIdService): ModuleMetadata {
  return {
    imports: [
      oidc(idp),
      GraphQLModule.forRootAsync<MercuriusDriverConfig>({
        driver: MercuriusDriver,
        inject: [GraphqlWsAuthentication],
        useFactory: (connections: GraphqlWsAuthentication) => {
          return {
            typeDefs: TYPE_DEFS,
            graphiql: false,
            subscription: { onConnect: connections.onConnect },
          };
        },
      }),
    ],
    providers: [OrdersResolver, SubscriptionFeeds],
  };
}
