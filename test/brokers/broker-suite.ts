import type { INestMicroservice } from '@nestjs/common';
import type { ClientProvider, ClientProxy, MicroserviceOptions } from '@nestjs/microservices';
import { Test, type TestingModule } from '@nestjs/testing';
import { firstValueFrom } from 'rxjs';
import {
  ClientCredentialsRpcClient,
  TokenProvider,
  type RpcTokenTransport,
  type TransportRefusal,
} from 'nest-oidc-client-credentials';
import { PATHS, type FakeIdService } from 'nest-oidc-client-credentials/testing';
import { uniqueBrokerName } from '../utils/brokers.js';
import { CapturingLogger } from '../utils/nest-http-app.js';
import {
  billingModule,
  ORDERS_CLIENT,
  ordersServiceModule,
  patternsOf,
  ReceivedEvents,
  startBrokersIdService,
} from './app.module.js';

/** One Nest broker transport, as its spec runs it. */
export interface BrokerTransport {
  /** Its name in test titles and in the run's unique names. */
  name: string;
  /** Where `ClientCredentialsRpcClient` puts the token. */
  transport: RpcTokenTransport;
  /** The microservice's options; `prefix` is unique to the run (for a queue name, say). */
  server(prefix: string): MicroserviceOptions;
  /** The caller's `ClientsModule` entry (without its name) for the same broker. */
  client(prefix: string): ClientProvider;
  /** The members of the payload the handler sees for `{ page: 1 }` sent by the helper. */
  payloadKeys: string[];
  /** Where the broker carries the token beside the payload, when it can. */
  metadata?: BrokerMetadata;
}

/** A broker's message metadata (headers, user properties), where the helper puts the token. */
export interface BrokerMetadata {
  /** What the broker calls it, in test titles: `headers`, `user properties`. */
  name: string;
  /** The spellings of `authorization` a record built by hand is read with. */
  spellings: string[];
  /** The record builder users set it with, in test titles. */
  builder: string;
  /** A record of `{ page: 1 }` whose metadata has `name: value`, built as a user would. */
  record(name: string, value: string): unknown;
}

/** What a broker spec's own cases use. */
export interface BrokerRun {
  idp: FakeIdService;
  /** The run's handler patterns. */
  patterns: ReturnType<typeof patternsOf>;
  /** The caller's plain `ClientProxy`, for messages built by hand. */
  proxy: ClientProxy;
  /** The caller's `ClientCredentialsRpcClient`. */
  rpc: ClientCredentialsRpcClient;
  /** A `ClientCredentialsRpcClient` that always sends `token`, never a new one. */
  sending(token: string): ClientCredentialsRpcClient;
  /** Tokens a test sent, which no log line may contain. */
  sentTokens: string[];
}

/** The refusal of a message whose token comes twice (in the metadata and the payload): S06. */
export const TOKEN_SENT_TWICE: TransportRefusal = {
  status: 'error',
  code: 'BAD_REQUEST',
  statusCode: 400,
  error: 'invalid_request',
  message: 'Malformed bearer token request',
};

/** The first answer of a message, or its error. */
export const answerOf = (message: ReturnType<ClientProxy['send']>): Promise<unknown> =>
  firstValueFrom(message).catch((error: unknown) => error);

/**
 * The cases every broker transport passes, against the real broker: a Nest microservice
 * (`OidcClientCredentialsModule.forRoot`, handlers guarded by `ClientTokenGuard`) called through
 * a `ClientProxy` of `ClientsModule` wrapped in `ClientCredentialsRpcClient`. `more` adds the
 * transport's own cases. Subjects, queues, topics and channels are unique to the run.
 */
export function describeBrokerTransport(
  broker: BrokerTransport,
  more?: (run: () => BrokerRun) => void,
): void {
  describe(`ClientTokenGuard and ClientCredentialsRpcClient over ${broker.name}`, () => {
    const logger = new CapturingLogger();
    const sentTokens: string[] = [];
    let idp: FakeIdService;
    let service: INestMicroservice;
    let caller: TestingModule;
    let run: BrokerRun;

    beforeAll(async () => {
      idp = await startBrokersIdService();
      const prefix = uniqueBrokerName(`orders-${broker.name.toLowerCase()}`);
      const serviceRef = await Test.createTestingModule(ordersServiceModule(idp, prefix))
        .setLogger(logger)
        .compile();
      service = serviceRef.createNestMicroservice({ ...broker.server(prefix), logger });
      await service.listen();
      caller = await Test.createTestingModule(
        billingModule(idp, broker.client(prefix), broker.transport),
      )
        .setLogger(logger)
        .compile();
      await caller.init();
      const proxy = caller.get<ClientProxy>(ORDERS_CLIENT);
      run = {
        idp,
        patterns: patternsOf(prefix),
        proxy,
        rpc: caller.get(ClientCredentialsRpcClient),
        sending: (token) => {
          sentTokens.push(token);
          const fixed = { getToken: async () => token, invalidate: () => false };
          return new ClientCredentialsRpcClient(proxy, fixed, { transport: broker.transport });
        },
        sentTokens,
      };
    });

    afterAll(async () => {
      await caller?.close();
      await service?.close();
      await idp?.close();
    });

    afterEach(() => idp.reset());

    it(`sends the token where ${broker.name} carries it: the handler runs for the caller`, async () => {
      const { rpc, patterns } = run;
      await expect(firstValueFrom(rpc.send(patterns.whoami, { page: 1 }))).resolves.toEqual({
        clientId: 'billing',
        scopes: ['orders:read'],
        payloadKeys: broker.payloadKeys,
      });
      await expect(firstValueFrom(rpc.send(patterns.list, { page: 1 }))).resolves.toEqual([
        'order-of-billing',
      ]);
      sentTokens.push(await caller.get(TokenProvider).getToken());
    });

    it('emit(): the guarded event handler runs for the caller', async () => {
      const events = service.get(ReceivedEvents);
      run.rpc.emit(run.patterns.created, { order: 7 });
      const event = await events.next();
      expect(event.clientId).toBe('billing');
      expect(event.payload).toMatchObject({ order: 7 });
    });

    it('S11 an event without a token: dropped, the handler runs only for the next one', async () => {
      const events = service.get(ReceivedEvents);
      run.proxy.emit(run.patterns.created, { order: 'without a token' });
      run.rpc.emit(run.patterns.created, { order: 'with a token' });
      await expect(events.next()).resolves.toEqual({
        clientId: 'billing',
        payload: expect.objectContaining({ order: 'with a token' }),
      });
    });

    it.each<
      [
        string,
        (pattern: ReturnType<typeof patternsOf>) => string,
        () => Promise<string>,
        TransportRefusal,
      ]
    >([
      [
        'invalid-signature',
        (p) => p.whoami,
        async () => `${await idp.mintJwt({ sub: 'billing', aud: 'orders-api' })}x`,
        {
          status: 'error',
          code: 'UNAUTHENTICATED',
          statusCode: 401,
          error: 'invalid_token',
          message: 'The access token is invalid',
        },
      ],
      [
        'S58 revoked',
        (p) => p.whoami,
        async () => {
          const token = idp.mintOpaque('billing');
          idp.revoke(token);
          return token;
        },
        {
          status: 'error',
          code: 'UNAUTHENTICATED',
          statusCode: 401,
          error: 'invalid_token',
          message: 'The access token is not active',
        },
      ],
      [
        'S53 missing scope',
        (p) => p.list,
        () => idp.mintJwt({ sub: 'billing', aud: 'orders-api', scope: 'orders:write' }),
        {
          status: 'error',
          code: 'FORBIDDEN',
          statusCode: 403,
          error: 'insufficient_scope',
          message: 'The access token lacks a required scope',
          scope: 'orders:read',
        },
      ],
      [
        'R23 ID service down',
        (p) => p.whoami,
        async () => {
          idp.on(PATHS.introspection, () => ({ status: 503 }));
          return idp.mintOpaque('billing');
        },
        {
          status: 'error',
          code: 'SERVICE_UNAVAILABLE',
          statusCode: 503,
          message: 'Token verification is temporarily unavailable',
          retryAfterSeconds: 7,
        },
      ],
    ])('%s: the caller gets the refusal payload', async (_name, pattern, token, expected) => {
      const sent = await token();
      const refusal = await answerOf(run.sending(sent).send(pattern(run.patterns), { page: 1 }));
      expect(refusal).toEqual(expected);
      expect(JSON.stringify(refusal)).not.toContain(sent);
    });

    it('S11 no token: a message sent without the helper is refused', async () => {
      await expect(answerOf(run.proxy.send(run.patterns.whoami, { page: 1 }))).resolves.toEqual({
        status: 'error',
        code: 'UNAUTHENTICATED',
        statusCode: 401,
        message: 'Bearer token required',
      });
    });

    it('R09 a revoked token is dropped and the message sent once more with a new one', async () => {
      const tokens = caller.get(TokenProvider);
      const revoked = await tokens.getToken();
      idp.revoke(revoked);
      await expect(firstValueFrom(run.rpc.send(run.patterns.whoami, {}))).resolves.toMatchObject({
        clientId: 'billing',
      });
      const renewed = await tokens.getToken();
      expect(renewed).not.toBe(revoked);
      expect(idp.requestCount(PATHS.token)).toBe(1);
      expect(idp.requestCount(PATHS.introspection)).toBe(2);
      sentTokens.push(revoked, renewed);
    });

    const { metadata } = broker;
    if (metadata) {
      it.each(metadata.spellings.map((name) => [name]))(
        `a member %s of the ${metadata.name} set by hand with ${metadata.builder} is read`,
        async (name) => {
          const token = await idp.mintJwt({ sub: 'billing', aud: 'orders-api' });
          sentTokens.push(token);
          const record = metadata.record(name, `Bearer ${token}`);
          await expect(
            answerOf(run.proxy.send(run.patterns.whoami, record)),
          ).resolves.toMatchObject({ clientId: 'billing', payloadKeys: ['page'] });
        },
      );

      it(`S06 a token in the ${metadata.name} and in the payload: BAD_REQUEST`, async () => {
        const token = await idp.mintJwt({ sub: 'billing', aud: 'orders-api' });
        const message = { page: 1, authorization: `Bearer ${token}` };
        await expect(
          answerOf(run.sending(token).send(run.patterns.whoami, message)),
        ).resolves.toEqual(TOKEN_SENT_TWICE);
      });
    }

    more?.(() => run);

    it('logs no token; the one error logged is Nest reporting the refused event', () => {
      const text = logger.text();
      expect(sentTokens.filter((token) => text.includes(token))).toEqual([]);
      expect(text).not.toContain('eyJ');
      // An event has no reply to carry a refusal, so Nest's RpcExceptionsHandler logs it.
      expect(logger.at('error')).toEqual([
        expect.stringMatching(/^Error: Bearer token required\n[\s\S]* RpcExceptionsHandler$/),
      ]);
    });
  });
}
