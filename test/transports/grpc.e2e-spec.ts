import { fileURLToPath } from 'node:url';
import {
  credentials,
  loadPackageDefinition,
  Metadata,
  status,
  type Client,
  type ServiceClientConstructor,
  type ServiceError,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { Controller, UseGuards, type INestMicroservice } from '@nestjs/common';
import { GrpcMethod, Transport, type MicroserviceOptions } from '@nestjs/microservices';
import { Test } from '@nestjs/testing';
import {
  ClientId,
  ClientTokenGuard,
  RequireScopes,
  TokenClaims,
  type VerifiedToken,
} from 'nest-oidc-client-credentials';
import { PATHS, type FakeIdService } from 'nest-oidc-client-credentials/testing';
import { CapturingLogger } from '../utils/nest-http-app.js';
import { freePort } from '../utils/ports.js';
import { microserviceAppModule, startTransportsIdService, type Caller } from './app.module.js';

const PROTO_PATH = fileURLToPath(new URL('./orders.proto', import.meta.url));

/** The `orders.Orders` service of orders.proto. */
@Controller()
@UseGuards(ClientTokenGuard)
class OrdersService {
  @GrpcMethod('Orders', 'WhoAmI')
  whoami(
    _request: unknown,
    _metadata: Metadata,
    _call: unknown,
    @ClientId() clientId: string,
    @TokenClaims() token: VerifiedToken,
  ): Caller {
    return { clientId, scopes: [...token.scopes] };
  }

  @GrpcMethod('Orders', 'List')
  @RequireScopes('orders:read')
  list(_request: unknown, _metadata: Metadata, _call: unknown, @ClientId() clientId: string) {
    return { orders: [`order-of-${clientId}`] };
  }
}

type Method = 'WhoAmI' | 'List';
type OrdersClient = Client & {
  [method in Method]: (
    request: object,
    metadata: Metadata,
    callback: (error: ServiceError | null, answer: unknown) => void,
  ) => void;
};

/** What a gRPC caller sees of a refused call. */
function seen(error: ServiceError) {
  return {
    code: status[error.code],
    details: error.details,
    'www-authenticate': error.metadata.get('www-authenticate'),
    'retry-after': error.metadata.get('retry-after'),
  };
}

/**
 * A microservice on the gRPC transport (orders.proto), called by a plain @grpc/grpc-js client
 * that sends `authorization: Bearer …` in the call metadata. A refusal is the call's gRPC status
 * with the refusal's message as details, and the HTTP answer's challenge as trailers.
 */
describe('ClientTokenGuard on a microservice (gRPC)', () => {
  let idp: FakeIdService;
  let app: INestMicroservice;
  let client: OrdersClient;
  const logger = new CapturingLogger();

  beforeAll(async () => {
    idp = await startTransportsIdService();
    // Nest's gRPC server does not tell the port it bound: ask the OS for a free one first.
    const url = `127.0.0.1:${await freePort()}`;
    const moduleRef = await Test.createTestingModule({
      imports: microserviceAppModule(idp).imports,
      controllers: [OrdersService],
    })
      .setLogger(logger)
      .compile();
    app = moduleRef.createNestMicroservice<MicroserviceOptions>({
      transport: Transport.GRPC,
      options: { package: 'orders', protoPath: PROTO_PATH, url },
      logger,
    });
    await app.listen();
    const { orders } = loadPackageDefinition(loadSync(PROTO_PATH)) as unknown as {
      orders: { Orders: ServiceClientConstructor };
    };
    client = new orders.Orders(url, credentials.createInsecure()) as unknown as OrdersClient;
  });

  afterAll(async () => {
    client?.close();
    await app?.close();
    await idp?.close();
  });

  beforeEach(() => idp.on(PATHS.introspection, () => undefined));

  const metadata = (authorization?: string) => {
    const m = new Metadata();
    if (authorization !== undefined) m.set('authorization', authorization);
    return m;
  };

  const call = (method: Method, request: object, m: Metadata) =>
    new Promise<unknown>((resolve, reject) => {
      client[method](request, m, (error, answer) => (error ? reject(error) : resolve(answer)));
    });

  const refusal = (method: Method, request: object, m: Metadata) =>
    call(method, request, m).then(
      () => Promise.reject(new Error('the call was not refused')),
      (error: ServiceError) => error,
    );

  it.each<[string, Method, object]>([
    ['WhoAmI', 'WhoAmI', { clientId: 'billing', scopes: ['orders:read'] }],
    ['List (orders:read)', 'List', { orders: ['order-of-billing'] }],
  ])(
    'a valid token in the metadata: %s answers with the @ClientId() of the token',
    async (_name, method, expected) => {
      const authorization = await idp.bearer({ sub: 'billing', scope: 'orders:read' });
      await expect(call(method, { page: 1 }, metadata(authorization))).resolves.toEqual(expected);
    },
  );

  it('a valid token in the request message (the payload convention) is accepted too', async () => {
    const authorization = await idp.bearer({ sub: 'billing', scope: 'orders:read' });
    await expect(call('List', { authorization, page: 1 }, metadata())).resolves.toEqual({
      orders: ['order-of-billing'],
    });
  });

  it.each<[string, Method, () => Promise<[object, Metadata]>, object]>([
    [
      'no metadata',
      'WhoAmI',
      async () => [{ page: 1 }, metadata()],
      {
        code: 'UNAUTHENTICATED',
        details: 'Bearer token required',
        'www-authenticate': ['Bearer realm="orders"'],
      },
    ],
    [
      'an invalid token (bad signature)',
      'WhoAmI',
      async () => [{}, metadata(`${await idp.bearer({ sub: 'billing' })}x`)],
      {
        code: 'UNAUTHENTICATED',
        details: 'The access token is invalid',
        'www-authenticate': [
          'Bearer realm="orders", error="invalid_token", error_description="The access token is invalid"',
        ],
      },
    ],
    [
      'an expired token',
      'WhoAmI',
      async () => [{}, metadata(await idp.bearer({ sub: 'billing', exp: 1000 }))],
      {
        code: 'UNAUTHENTICATED',
        details: 'The access token expired',
        'www-authenticate': [
          'Bearer realm="orders", error="invalid_token", error_description="The access token expired"',
        ],
      },
    ],
    [
      'a missing scope',
      'List',
      async () => [{}, metadata(await idp.bearer({ sub: 'billing', scope: 'orders:write' }))],
      {
        code: 'PERMISSION_DENIED',
        details: 'The access token lacks a required scope',
        'www-authenticate': [
          'Bearer realm="orders", error="insufficient_scope", error_description="The access token lacks a required scope", scope="orders:read"',
        ],
      },
    ],
    [
      'a token in the metadata and the request message',
      'WhoAmI',
      async () => {
        const authorization = await idp.bearer({ sub: 'billing' });
        return [{ authorization }, metadata(authorization)];
      },
      {
        code: 'INVALID_ARGUMENT',
        details: 'Malformed bearer token request',
        'www-authenticate': [
          'Bearer realm="orders", error="invalid_request", error_description="Malformed bearer token request"',
        ],
      },
    ],
  ])(
    '%s: refused with a gRPC status and the challenge as trailers',
    async (_name, method, input, expected) => {
      const [request, m] = await input();
      const error = await refusal(method, request, m);
      expect(seen(error)).toEqual({ 'retry-after': [], ...expected });
      expect(JSON.stringify([error.message, error.metadata.getMap()])).not.toContain('eyJ');
    },
  );

  it('ID service down: UNAVAILABLE with retry-after, the service keeps running', async () => {
    idp.on(PATHS.introspection, () => ({ status: 503 }));
    const m = metadata(`Bearer ${idp.mintOpaque('billing')}`);
    const error = await refusal('WhoAmI', {}, m);
    expect(seen(error)).toEqual({
      code: 'UNAVAILABLE',
      details: 'Token verification is temporarily unavailable',
      'www-authenticate': [],
      'retry-after': ['7'],
    });
    idp.on(PATHS.introspection, () => undefined);
    await expect(call('WhoAmI', {}, m)).resolves.toMatchObject({ clientId: 'billing' });
  });

  it('logs no token and no unexpected error', () => {
    expect(logger.text()).not.toContain('eyJ');
    expect(logger.at('error')).toEqual([]);
  });
});
