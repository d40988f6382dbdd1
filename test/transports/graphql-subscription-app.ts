import type { AddressInfo } from 'node:net';
import { jest } from '@jest/globals';
import type { INestApplication, ModuleMetadata } from '@nestjs/common';
import type { AbstractHttpAdapter } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import type { FormattedExecutionResult } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import { PATHS, type FakeIdService } from 'nest-oidc-client-credentials/testing';
import WebSocket from 'ws';
import { CapturingLogger } from '../utils/nest-http-app.js';
import { startTransportsIdService } from './app.module.js';
import { SubscriptionFeeds } from './graphql-app.module.js';

/**
 * A GraphQL app with subscriptions over graphql-ws, for the tests of a `describe`: made in it, it
 * starts the transports' ID service (its introspection answering as the fake does) and the app
 * of `module` (on `adapter`, Express by default) before the tests, ends each test's clients,
 * sockets and subscription feeds after it, and closes both at the end.
 */
export class GraphqlSubscriptionApp {
  /** What the app logs. */
  readonly logger = new CapturingLogger();
  private readonly clients: Client[] = [];
  private readonly sockets: WebSocket[] = [];
  private started?: { idp: FakeIdService; app: INestApplication; url: string };

  constructor(module: (idp: FakeIdService) => ModuleMetadata, adapter?: () => AbstractHttpAdapter) {
    beforeAll(async () => {
      const idp = await startTransportsIdService();
      const moduleRef = await Test.createTestingModule(module(idp))
        .setLogger(this.logger)
        .compile();
      const logger = this.logger;
      const app = adapter
        ? moduleRef.createNestApplication(adapter(), { logger })
        : moduleRef.createNestApplication({ logger });
      await app.listen(0, '127.0.0.1');
      const { port } = app.getHttpServer().address() as AddressInfo;
      this.started = { idp, app, url: `ws://127.0.0.1:${port}/graphql` };
    });
    beforeEach(() => this.idp.on(PATHS.introspection, () => undefined));
    afterEach(async () => {
      jest.useRealTimers();
      for (const client of this.clients.splice(0)) await client.dispose();
      for (const socket of this.sockets.splice(0)) socket.terminate();
      await this.feeds.allEnded();
    });
    afterAll(async () => {
      await this.started?.app.close();
      await this.started?.idp.close();
    });
  }

  get idp(): FakeIdService {
    return this.running().idp;
  }

  get app(): INestApplication {
    return this.running().app;
  }

  /** The app's graphql-ws endpoint. */
  get url(): string {
    return this.running().url;
  }

  /** The app's subscription feeds. */
  get feeds(): SubscriptionFeeds {
    return this.app.get(SubscriptionFeeds);
  }

  /**
   * A graphql-ws client that sends `connectionParams` in `connection_init`; it reconnects only when
   * given `retryAttempts`, and then at once. Disposed after the test.
   */
  client(
    connectionParams:
      Record<string, unknown> | (() => Record<string, unknown> | Promise<Record<string, unknown>>),
    retryAttempts = 0,
  ): Client {
    const client = createClient({
      url: this.url,
      webSocketImpl: WebSocket,
      connectionParams,
      retryAttempts,
      retryWait: () => Promise.resolve(),
    });
    this.clients.push(client);
    return client;
  }

  /** A raw graphql-ws socket, terminated after the test. */
  socket(): WebSocket {
    const socket = new WebSocket(this.url, 'graphql-transport-ws');
    this.sockets.push(socket);
    return socket;
  }

  private running() {
    if (!this.started) throw new Error('the GraphQL app is not started outside its describe');
    return this.started;
  }
}

/** Subscribes; resolves with the first result, or rejects with what ended the subscription. */
export function firstResult(client: Client, query: string): Promise<FormattedExecutionResult> {
  return new Promise((resolve, reject) => {
    client.subscribe({ query }, { next: resolve, error: reject, complete: () => undefined });
  });
}
