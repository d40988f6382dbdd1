import { Controller, Get, UseGuards } from '@nestjs/common';
import {
  ClientId,
  ClientTokenGuard,
  RequireScopes,
  VerifyWith,
} from 'nest-oidc-client-credentials';

/** The three ways the seed lets the 3rd party service check a token. */
export type DemoStrategy = 'jwt' | 'introspection' | 'userinfo';

/** Every strategy, in the order the demo runs them. */
export const DEMO_STRATEGIES: readonly DemoStrategy[] = ['jwt', 'introspection', 'userinfo'];

/** What the demo routes answer. */
export interface WhoAmI {
  clientId: string;
  strategy: DemoStrategy;
}

/** `whoami`, under every strategy: any valid token. */
abstract class DemoRoutesController {
  protected abstract readonly strategy: DemoStrategy;

  @Get('whoami')
  whoami(@ClientId() clientId: string): WhoAmI {
    return { clientId, strategy: this.strategy };
  }
}

/**
 * `whoami`, and `orders` only with the `orders:read` scope (403 `insufficient_scope` otherwise):
 * for the strategies whose answers carry the token's scopes (not userinfo).
 */
abstract class ScopedDemoRoutesController extends DemoRoutesController {
  @Get('orders')
  @RequireScopes('orders:read')
  orders(@ClientId() clientId: string): WhoAmI & { orders: { id: string; item: string }[] } {
    return { clientId, strategy: this.strategy, orders: [{ id: 'o-1001', item: 'green tea' }] };
  }
}

/** Routes whose tokens are checked locally against the ID service's JWKS. */
@UseGuards(ClientTokenGuard)
@VerifyWith('jwt')
@Controller('jwt')
export class JwtRoutesController extends ScopedDemoRoutesController {
  protected readonly strategy = 'jwt';
}

/** Routes whose tokens are checked with the ID service's introspection endpoint. */
@UseGuards(ClientTokenGuard)
@VerifyWith('introspection')
@Controller('introspection')
export class IntrospectionRoutesController extends ScopedDemoRoutesController {
  protected readonly strategy = 'introspection';
}

/** Routes whose tokens are checked with the ID service's userinfo endpoint. */
@UseGuards(ClientTokenGuard)
@VerifyWith('userinfo')
@Controller('userinfo')
export class UserinfoRoutesController extends DemoRoutesController {
  protected readonly strategy = 'userinfo';
}
