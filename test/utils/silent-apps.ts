import { afterAll, afterEach, beforeAll } from '@jest/globals';
import { Logger, type INestApplication, type LoggerService } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  OidcClientCredentialsModule,
  type OidcClientCredentialsModuleOptions,
} from 'nest-oidc-client-credentials';

const quiet = () => undefined;

/** A Nest logger that writes nothing (for apps whose logs a test does not read). */
export const silent: LoggerService = {
  log: quiet,
  error: quiet,
  warn: quiet,
  debug: quiet,
  verbose: quiet,
};

/**
 * Apps of `OidcClientCredentialsModule.forRoot()` for the tests of a `describe`, logging nothing.
 * Made in the `describe`, it silences Nest's `Logger` there and closes each test's apps after it.
 */
export class SilentModuleApps {
  private readonly apps: INestApplication[] = [];

  constructor() {
    beforeAll(() => {
      Logger.overrideLogger(false);
    });
    afterAll(() => {
      Logger.overrideLogger(new Logger());
    });
    afterEach(() => this.closeAll());
  }

  /** An initialised app of the module with `options`, closed after the test. */
  readonly start = async (
    options: OidcClientCredentialsModuleOptions,
  ): Promise<INestApplication> => {
    const moduleRef = await Test.createTestingModule({
      imports: [OidcClientCredentialsModule.forRoot(options)],
    })
      .setLogger(silent)
      .compile();
    const app = moduleRef.createNestApplication();
    await app.init();
    this.apps.push(app);
    return app;
  };

  /** Closes the apps started so far. */
  async closeAll(): Promise<void> {
    await Promise.all(this.apps.splice(0).map((app) => app.close()));
  }
}
