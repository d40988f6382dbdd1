import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { FakeIdService, type FakeIdServiceOptions } from 'nest-oidc-client-credentials/testing';
import { CapturingLogger } from './nest-http-app.js';
import { RedisInspector, uniquePrefix } from './redis.js';
import { CacheInstances } from './shared-cache-instances.js';

/** How a {@link RedisTestBed} sets up. */
export interface RedisTestBedOptions {
  /** Whether Nest's `Logger` writes to the test's log as well (default: no). */
  globalLogger?: boolean;
}

/**
 * What the tests of a `describe` on the real Redis share. Made in the `describe`, it registers
 * the hooks: the fake ID service and a Redis connection started once; a prefix and a log per
 * test; after each test the real clock back, its instances and stores closed, its prefixes
 * cleared, the ID service reset.
 */
export class RedisTestBed {
  /** The sealing key every instance of the `describe` shares (`cache.encryptionKey`). */
  readonly encryptionKey = randomBytes(32).toString('base64');
  /** The test's instances and stores, closed after it. */
  readonly toClose = new CacheInstances();
  private readonly prefixes: string[] = [];
  private started?: { idp: FakeIdService; inspector: RedisInspector };
  private log?: CapturingLogger;

  constructor(
    idpOptions: FakeIdServiceOptions,
    { globalLogger = false }: RedisTestBedOptions = {},
  ) {
    beforeAll(async () => {
      const idp = await FakeIdService.start(idpOptions);
      this.started = { idp, inspector: await RedisInspector.connect() };
    });
    afterAll(async () => {
      await this.started?.inspector.close();
      await this.started?.idp.close();
      Logger.overrideLogger(new Logger());
    });
    beforeEach(() => {
      this.log = new CapturingLogger();
      if (globalLogger) Logger.overrideLogger(this.log);
      this.otherPrefix();
    });
    afterEach(async () => {
      // A test that faked the clock gets the real one back before its instances close.
      jest.useRealTimers();
      await this.toClose.close();
      for (const used of this.prefixes.splice(0)) await this.inspector.clear(used);
      this.idp.reset();
    });
  }

  /** The fake ID service, reset after each test. */
  get idp(): FakeIdService {
    return this.running().idp;
  }

  /** A connection of the tests' own to the shared Redis. */
  get inspector(): RedisInspector {
    return this.running().inspector;
  }

  /** The test's key prefix in Redis (cleared after it). */
  get prefix(): string {
    return this.prefixes[0];
  }

  /** What the test's instances log (and, with `globalLogger`, Nest's `Logger`). */
  get logs(): CapturingLogger {
    if (!this.log) throw new Error('the test bed has no log outside a test');
    return this.log;
  }

  /** One more prefix for this test (another service on the same Redis), cleared after it too. */
  readonly otherPrefix = (): string => {
    const prefix = uniquePrefix();
    this.prefixes.push(prefix);
    return prefix;
  };

  private running() {
    if (!this.started) throw new Error('the test bed is not started outside its describe');
    return this.started;
  }
}
