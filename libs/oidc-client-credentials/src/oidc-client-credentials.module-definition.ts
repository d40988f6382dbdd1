import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { OidcClientCredentialsModuleOptions } from './options/oidc-client-credentials-options.interface.js';

/** Extras accepted next to the options by `forRoot` / `forRootAsync`. */
export interface OidcClientCredentialsModuleExtras {
  /** Register the module globally so feature modules need not import it. Default `false`. */
  isGlobal?: boolean;
  /**
   * Names of the `clients` to make injectable (`@InjectTokenProvider(name)`,
   * `@InjectClientCredentialsHttp(name)`) when the options come from `forRootAsync`, whose
   * `clients` are not known before the factory runs. `forRoot` takes them from `options.clients`.
   * A name that the resolved options do not configure fails the app's startup with its name.
   */
  clientNames?: readonly string[];
}

/**
 * A class for `forRootAsync({ useClass })` or `forRootAsync({ useExisting })`: the module calls its
 * `createOidcClientCredentialsOptions()`.
 */
export interface OidcClientCredentialsOptionsFactory {
  createOidcClientCredentialsOptions():
    OidcClientCredentialsModuleOptions | Promise<OidcClientCredentialsModuleOptions>;
}

export const {
  ConfigurableModuleClass,
  MODULE_OPTIONS_TOKEN: OIDC_CLIENT_CREDENTIALS_MODULE_OPTIONS,
  OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<OidcClientCredentialsModuleOptions>({
  moduleName: 'OidcClientCredentials',
})
  .setClassMethodName('forRoot')
  .setFactoryMethodName('createOidcClientCredentialsOptions')
  .setExtras<OidcClientCredentialsModuleExtras>(
    { isGlobal: false, clientNames: undefined },
    (definition, extras) => ({
      ...definition,
      global: extras.isGlobal,
    }),
  )
  .build();

/** What `forRootAsync` takes: `imports`, `inject`, `useFactory` / `useClass` / `useExisting`, and the extras. */
export type OidcClientCredentialsModuleAsyncOptions = typeof ASYNC_OPTIONS_TYPE;
