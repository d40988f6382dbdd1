import { ConfigurationError } from '../errors/configuration.error.js';
import { sanitizeForLog } from '../errors/sanitize.util.js';
import { parseEndpointUrl } from './endpoint-url.util.js';
import { validIssuer } from './id-service-options.util.js';
import { assertDpopSharable, resolveDpop } from './dpop-options.util.js';
import {
  assertOutboundCredentials,
  resolveIdentity,
  type ClientIdentity,
} from './identity-options.util.js';
import { assertTlsClientAuthAlone, resolveMtls } from './http-options.util.js';
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
  const idService = ownIdService(entry, root, label);
  const ownIdentity = entry.clientId !== undefined;
  let identity: ClientIdentity;
  if (ownIdentity) {
    identity = resolveIdentity(entry, `${label}.`);
  } else if (idService !== undefined) {
    throw new ConfigurationError(
      `${label}.clientId`,
      `required with ${label}.issuer: a client of another issuer has credentials of its own and never uses the root's`,
    );
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
  const ownParams = tokenParams(entry, `${label}.`);
  // A client of another issuer takes nothing of the root's requests: they were meant for the root's.
  const inheritsRoot = idService === undefined;
  const client: ResolvedOptions = {
    ...root,
    ...idService,
    ...identity,
    // A certificate is part of the identity: the client's own with its own clientId, else the root's.
    mtls: ownIdentity ? resolveMtls(entry.mtls, `${label}.`, rootOptions.http) : root.mtls,
    tokenParams: inheritsRoot ? tokenParams(inheritTokenParams(rootOptions, entry)) : ownParams,
    // Its own setting, else the root's (a generated key is still the client's own).
    dpop:
      entry.dpop === undefined
        ? inheritsRoot
          ? root.dpop
          : undefined
        : resolveDpop(entry.dpop, `${label}.`),
    clientName: name,
    // An inherited identity's problems are the root options' to fix.
    credentialsOptionPrefix: ownIdentity ? `${label}.` : undefined,
    clients: {},
  };
  assertOutboundCredentials(client);
  assertTlsClientAuthAlone(client);
  assertDpopSharable(client, entry.dpop === undefined ? '' : `${label}.`);
  return client;
}

/**
 * The issuer and token endpoint of a named client with an `issuer` of its own, checked as the
 * root's are; `undefined` for a client of the root's issuer (which takes no `endpoints`).
 */
function ownIdService(
  entry: NamedClientOptions,
  root: ResolvedOptions,
  label: string,
): Pick<ResolvedOptions, 'issuer' | 'endpoints'> | undefined {
  if (entry.issuer === undefined) {
    if (entry.endpoints !== undefined) {
      throw new ConfigurationError(
        `${label}.endpoints`,
        `only with ${label}.issuer: a client of the root issuer uses the root endpoints`,
      );
    }
    return undefined;
  }
  const issuer = validIssuer(entry.issuer, root.allowInsecureHttp, `${label}.issuer`);
  const token = entry.endpoints?.token;
  return {
    issuer,
    endpoints:
      token === undefined
        ? {}
        : { token: parseEndpointUrl(`${label}.endpoints.token`, token, root.allowInsecureHttp) },
  };
}
