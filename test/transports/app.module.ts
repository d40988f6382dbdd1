import type { IncomingMessage } from 'node:http';
import { ApolloDriver, type ApolloDriverConfig } from '@nestjs/apollo';
import { Controller, UseGuards, type ModuleMetadata } from '@nestjs/common';
import { GraphQLModule, Query, Resolver } from '@nestjs/graphql';
import { MessagePattern } from '@nestjs/microservices';
import {
  SubscribeMessage,
  WebSocketGateway,
  type OnGatewayConnection,
  type WsResponse,
} from '@nestjs/websockets';
import {
  attachHandshake,
  ClientId,
  ClientTokenGuard,
  OidcClientCredentialsModule,
  Public,
  RequireScopes,
  TokenClaims,
  type VerifiedToken,
} from 'nest-oidc-client-credentials';
import { createTestingOptions, FakeIdService } from 'nest-oidc-client-credentials/testing';

/** What every guarded handler and resolver answers: who called, with which scopes. */
export interface Caller {
  clientId: string;
  scopes: string[];
}

export const caller = (clientId: string, token: VerifiedToken): Caller => ({
  clientId,
  scopes: [...token.scopes],
});

@Resolver()
@UseGuards(ClientTokenGuard)
class OrdersResolver {
  @Query('whoami')
  whoami(@ClientId() clientId: string, @TokenClaims() token: VerifiedToken): Caller {
    return caller(clientId, token);
  }

  @Query('orders')
  @RequireScopes('orders:read')
  orders(@ClientId() clientId: string): string[] {
    return [`order-of-${clientId}`];
  }
}

const TYPE_DEFS = /* GraphQL */ `
  type Caller {
    clientId: String!
    scopes: [String!]!
  }
  type Query {
    whoami: Caller
    orders: [String!]
  }
`;

@Controller()
@UseGuards(ClientTokenGuard)
class OrdersMessages {
  @MessagePattern('orders.whoami')
  whoami(@ClientId() clientId: string, @TokenClaims() token: VerifiedToken): Caller {
    return caller(clientId, token);
  }

  @MessagePattern('orders.list')
  @RequireScopes('orders:read')
  list(@ClientId() clientId: string): string[] {
    return [`order-of-${clientId}`];
  }
}

@WebSocketGateway({ path: '/events' })
@UseGuards(ClientTokenGuard)
class OrdersGateway implements OnGatewayConnection {
  handleConnection(client: object, request: IncomingMessage): void {
    attachHandshake(client, request);
  }

  @SubscribeMessage('whoami')
  whoami(@ClientId() clientId: string, @TokenClaims() token: VerifiedToken): WsResponse<Caller> {
    return { event: 'whoami', data: caller(clientId, token) };
  }

  @SubscribeMessage('orders')
  @RequireScopes('orders:read')
  orders(@ClientId() clientId: string): WsResponse<string[]> {
    return { event: 'orders', data: [`order-of-${clientId}`] };
  }

  /** A mistake the decorator must catch: @ClientId() on a message the guard does not check. */
  @SubscribeMessage('public-whoami')
  @Public()
  publicWhoami(@ClientId() clientId: string): WsResponse<string> {
    return { event: 'public-whoami', data: clientId };
  }
}

/**
 * A guarded Socket.IO gateway: nothing to attach, the guard reads the socket's `handshake`. A plain
 * return value is the acknowledgement of the message; a `WsResponse` is emitted as its event.
 */
@WebSocketGateway({ namespace: '/orders' })
@UseGuards(ClientTokenGuard)
class OrdersSocketIoGateway {
  @SubscribeMessage('whoami')
  whoami(@ClientId() clientId: string, @TokenClaims() token: VerifiedToken): Caller {
    return caller(clientId, token);
  }

  @SubscribeMessage('orders')
  @RequireScopes('orders:read')
  orders(@ClientId() clientId: string): WsResponse<string[]> {
    return { event: 'orders', data: [`order-of-${clientId}`] };
  }
}

/** The ID service of the transport specs: this API (`orders-api`, it introspects) and `billing`. */
export function startTransportsIdService(): Promise<FakeIdService> {
  return FakeIdService.start({
    clients: { 'orders-api': { secret: 'orders-secret' }, billing: { secret: 'b' } },
  });
}

function oidc(idp: FakeIdService) {
  return OidcClientCredentialsModule.forRoot(
    createTestingOptions(idp, { verification: { realm: 'orders', retryAfterSeconds: 7 } }),
  );
}

/** A GraphQL API (Apollo, schema first) whose queries are guarded. */
export function graphqlAppModule(idp: FakeIdService): ModuleMetadata {
  return {
    imports: [
      oidc(idp),
      GraphQLModule.forRoot<ApolloDriverConfig>({
        driver: ApolloDriver,
        typeDefs: TYPE_DEFS,
        playground: false,
        introspection: false,
      }),
    ],
    providers: [OrdersResolver],
  };
}

/** Guarded message handlers, for a microservice on any transport. */
export function microserviceAppModule(idp: FakeIdService): ModuleMetadata {
  return { imports: [oidc(idp)], controllers: [OrdersMessages] };
}

/** A guarded `ws` gateway on the HTTP server's port, at `/events`. */
export function websocketAppModule(idp: FakeIdService): ModuleMetadata {
  return { imports: [oidc(idp)], providers: [OrdersGateway] };
}

/** A guarded Socket.IO gateway on the HTTP server's port, namespace `/orders`. */
export function socketIoAppModule(idp: FakeIdService): ModuleMetadata {
  return { imports: [oidc(idp)], providers: [OrdersSocketIoGateway] };
}
