import { Controller, Get, UseGuards } from '@nestjs/common';
import { ClientId, ClientTokenGuard, RequireScopes } from 'nest-oidc-client-credentials';

/**
 * The guarded orders API most e2e apps serve: `GET /orders` answers `{ clientId }` for any valid
 * token, `/orders/read` and `/orders/write` the same for tokens with `orders:read` / `orders:write`.
 */
@Controller('orders')
@UseGuards(ClientTokenGuard)
export class OrdersController {
  @Get()
  list(@ClientId() clientId: string) {
    return { clientId };
  }

  @Get('read')
  @RequireScopes('orders:read')
  read(@ClientId() clientId: string) {
    return { clientId };
  }

  @Get('write')
  @RequireScopes('orders:write')
  write(@ClientId() clientId: string) {
    return { clientId };
  }
}
