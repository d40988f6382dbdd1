import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { OidcClientCredentialsModuleOptions } from './interfaces/oidc-client-credentials-options.interface.js';

/** Extras accepted next to the options by `forRoot` / `forRootAsync`. */
export interface OidcClientCredentialsModuleExtras {
  /** Register the module globally so feature modules need not import it. Default `false`. */
  isGlobal?: boolean;
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
  .setExtras<OidcClientCredentialsModuleExtras>({ isGlobal: false }, (definition, extras) => ({
    ...definition,
    global: extras.isGlobal,
  }))
  .build();

/** Token of the validated, defaulted options ({@link ResolvedOptions}). */
export const OIDC_CLIENT_CREDENTIALS_RESOLVED_OPTIONS = Symbol(
  'OIDC_CLIENT_CREDENTIALS_RESOLVED_OPTIONS',
);
