import { readFileSync } from 'node:fs';
import type { JWK } from 'jose';
import type { FakeClient, SigningAlgorithm } from 'nest-oidc-client-credentials/testing';

/** One client registered at the development ID service. */
export interface IdServiceClient {
  /** Secret for `client_secret_basic`, `client_secret_post` and the seed's query form. */
  secret?: string;
  /** Public keys of a `private_key_jwt` client. */
  jwks?: { keys: JWK[] };
  /** Access token format. Default `'jwt'`. */
  tokenFormat?: 'jwt' | 'opaque';
  /** `'seed'` (default) is the seed's payload; `'rfc9068'` adds `typ: at+jwt`, `client_id`, `jti`. */
  jwtProfile?: 'seed' | 'rfc9068';
  /** Scopes the client may ask for; all of them are granted when it asks for none. */
  scopes?: string[];
  /** Token lifetime in seconds. Default `3600`. */
  lifetimeSeconds?: number;
  /** May call the introspection endpoint about other clients' tokens (the seed's 3rd party client). */
  canIntrospect?: boolean;
  /**
   * `aud` of the client's tokens (JWT claim and introspection answer): the API they are meant for.
   * Default the client id, as the seed's ID service.
   */
  audience?: string;
}

/** Clients by client id. */
export type IdServiceClients = Record<string, IdServiceClient>;

/** Signing algorithms the service can generate keys for. */
export type IdServiceAlgorithm = SigningAlgorithm;

/** The checked-in development clients file, relative to the working directory. */
export const DEFAULT_CLIENTS_FILE = 'apps/id-service/clients.dev.json';

const CLIENT_FIELDS = new Set([
  'secret',
  'jwks',
  'tokenFormat',
  'jwtProfile',
  'scopes',
  'lifetimeSeconds',
  'canIntrospect',
  'audience',
]);

/**
 * Checks a clients object and returns it; throws with the client and field named when it is wrong,
 * so a typo in the file fails at startup instead of as a puzzling `invalid_client`.
 */
export function validateClients(clients: unknown): IdServiceClients {
  if (!isRecord(clients)) throw new Error('clients must be an object keyed by client id');
  for (const [id, client] of Object.entries(clients)) {
    const where = `client "${id}"`;
    if (!isRecord(client)) throw new Error(`${where} must be an object`);
    for (const field of Object.keys(client)) {
      if (!CLIENT_FIELDS.has(field)) throw new Error(`${where}: unknown field "${field}"`);
    }
    const {
      secret,
      jwks,
      tokenFormat,
      jwtProfile,
      scopes,
      lifetimeSeconds,
      canIntrospect,
      audience,
    } = client;
    if (audience !== undefined && (typeof audience !== 'string' || audience === '')) {
      throw new Error(`${where}: "audience" must be a non-empty string`);
    }
    if (secret === undefined && jwks === undefined) {
      throw new Error(`${where} needs a "secret" or a "jwks"`);
    }
    if (secret !== undefined && (typeof secret !== 'string' || secret === '')) {
      throw new Error(`${where}: "secret" must be a non-empty string`);
    }
    if (jwks !== undefined && !(isRecord(jwks) && Array.isArray(jwks.keys))) {
      throw new Error(`${where}: "jwks" must be { "keys": [ … ] }`);
    }
    if (tokenFormat !== undefined && tokenFormat !== 'jwt' && tokenFormat !== 'opaque') {
      throw new Error(`${where}: "tokenFormat" must be "jwt" or "opaque"`);
    }
    if (jwtProfile !== undefined && jwtProfile !== 'seed' && jwtProfile !== 'rfc9068') {
      throw new Error(`${where}: "jwtProfile" must be "seed" or "rfc9068"`);
    }
    if (
      scopes !== undefined &&
      !(
        Array.isArray(scopes) &&
        scopes.every((s) => typeof s === 'string' && /^[!#-[\]-~]+$/.test(s))
      )
    ) {
      throw new Error(`${where}: "scopes" must be a list of scope tokens (RFC 6749 §3.3)`);
    }
    if (
      lifetimeSeconds !== undefined &&
      !(Number.isInteger(lifetimeSeconds) && (lifetimeSeconds as number) > 0)
    ) {
      throw new Error(`${where}: "lifetimeSeconds" must be a positive integer`);
    }
    if (canIntrospect !== undefined && typeof canIntrospect !== 'boolean') {
      throw new Error(`${where}: "canIntrospect" must be true or false`);
    }
  }
  return clients as IdServiceClients;
}

/**
 * The clients as the testing kit's endpoints take them, with this service's defaults: scopes are
 * granted only from `scopes` (none when it is absent) and only `canIntrospect` clients introspect.
 */
export function toEndpointClients(clients: IdServiceClients): Record<string, FakeClient> {
  return Object.fromEntries(
    Object.entries(clients).map(([id, client]) => [
      id,
      {
        secret: client.secret,
        jwks: client.jwks,
        tokenFormat: client.tokenFormat ?? 'jwt',
        jwtProfile: client.jwtProfile === 'rfc9068' ? 'rfc9068' : 'default',
        scopes: client.scopes ?? [],
        lifetimeSeconds: client.lifetimeSeconds,
        audience: client.audience,
        canIntrospect: client.canIntrospect ?? false,
      } satisfies FakeClient,
    ]),
  );
}

/** Reads a clients file: `{ "_comment": "…", "clients": { "<id>": { … } } }`. */
export function loadClientsFile(path: string): IdServiceClients {
  const parsed: unknown = JSON.parse(readFileSync(path, 'utf8'));
  if (!isRecord(parsed)) throw new Error(`${path}: expected a JSON object`);
  try {
    return validateClients(parsed.clients);
  } catch (error) {
    throw new Error(`${path}: ${(error as Error).message}`, { cause: error });
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
