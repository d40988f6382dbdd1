import { ConfigurationError } from '../errors/configuration.error.js';
import { sanitizeForLog } from '../errors/sanitize.util.js';
import {
  assertOutboundCredentials,
  resolveIdentity,
  type ClientIdentity,
} from './identity-options.util.js';
import { assertKnownOptions, CREDENTIAL_KEYS, NAMED_CLIENT_OPTIONS } from './known-options.util.js';
import type {
  NamedClientOptions,
  OidcClientCredentialsModuleOptions,
} from './oidc-client-credentials-options.interface.js';
import { inheritTokenParams, tokenParams } from './outbound-options.util.js';
import { DEFAULT_CLIENT_NAME, type ResolvedOptions } from './resolved-options.js';

/** Names end up in DI tokens, logs and metric labels. */
const CLIENT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/**
 * The root's `clients`, each resolved with {@link resolveNamedClient}. That `clients` is an
 * object is checked with the option keys, before.
 */
export function resolveClients(
  options: OidcClientCredentialsModuleOptions,
  root: ResolvedOptions,
): Record<string, ResolvedOptions> {
  return Object.fromEntries(
    Object.entries(options.clients ?? {}).map(([name, entry]) => [
      name,
      resolveNamedClient(options, root, name, entry),
    ]),
  );
}

/**
 * Resolves a named client against the root (see `NamedClientOptions` for what it inherits) and
 * checks its credentials now, naming the option as `label.option` (e.g. `clients.billing.clientSecret`).
 */
export function resolveNamedClient(
  rootOptions: OidcClientCredentialsModuleOptions,
  root: ResolvedOptions,
  name: string,
  entry: NamedClientOptions,
  label = `clients.${name}`,
): ResolvedOptions {
  if (typeof name !== 'string' || !CLIENT_NAME.test(name) || name === DEFAULT_CLIENT_NAME) {
    throw new ConfigurationError(
      'clients',
      `"${sanitizeForLog(String(name), 64)}" is not a client name: expected 1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit, other than "${DEFAULT_CLIENT_NAME}"`,
    );
  }
  assertKnownOptions(entry, NAMED_CLIENT_OPTIONS, label);
  const ownIdentity = entry.clientId !== undefined;
  let identity: ClientIdentity;
  if (ownIdentity) {
    identity = resolveIdentity(entry, `${label}.`);
  } else {
    const stray = CREDENTIAL_KEYS.find((option) => entry[option] !== undefined);
    if (stray !== undefined) {
      throw new ConfigurationError(
        `${label}.clientId`,
        `required with ${label}.${stray}: without its own clientId a named client uses the root client's identity`,
      );
    }
    if (root.clientId === undefined) {
      throw new ConfigurationError(
        `${label}.clientId`,
        'required: the root options have no clientId to share',
      );
    }
    const { clientId, clientSecret, clientAuthMethod, privateKey, clientAssertion } = root;
    identity = { clientId, clientSecret, clientAuthMethod, privateKey, clientAssertion };
  }
  // The client's own parameters are checked under its label before the root's fill the gaps.
  tokenParams(entry, `${label}.`);
  const client: ResolvedOptions = {
    ...root,
    ...identity,
    tokenParams: tokenParams(inheritTokenParams(rootOptions, entry)),
    clientName: name,
    // An inherited identity's problems are the root options' to fix.
    credentialsOptionPrefix: ownIdentity ? `${label}.` : undefined,
    clients: {},
  };
  assertOutboundCredentials(client);
  return client;
}
