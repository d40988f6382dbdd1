import type { Keyv } from 'keyv';
import { ConfigurationError } from '../errors/configuration.error.js';
import type { SharedCacheOptions } from './oidc-client-credentials-options.interface.js';
import { positive } from './option-values.util.js';
import type { ResolvedOptions } from './resolved-options.js';

/** Checks the shared cache options and applies their defaults. */
export function resolveCache(cache: SharedCacheOptions | undefined): ResolvedOptions['cache'] {
  return {
    stores: cacheStores(cache?.stores),
    keyPrefix: keyPrefix(cache?.keyPrefix),
    encryptionKey: encryptionKey(cache?.encryptionKey),
    timeoutMs: positive('cache.timeoutMs', cache?.timeoutMs, 50),
  };
}

function cacheStores(value: Keyv[] | undefined): Keyv[] {
  if (value === undefined) return [];
  const isStore = (store: unknown) =>
    typeof store === 'object' &&
    store !== null &&
    ['get', 'set', 'delete', 'on', 'off'].every(
      (method) => typeof (store as Record<string, unknown>)[method] === 'function',
    );
  if (!Array.isArray(value) || !value.every(isStore)) {
    throw new ConfigurationError(
      'cache.stores',
      "expected a list of Keyv instances, e.g. [createKeyv('redis://…')] from @keyv/redis",
    );
  }
  return [...value];
}

function keyPrefix(value: string | undefined): string {
  if (value === undefined) return 'oidc-cc';
  if (typeof value !== 'string' || !/^[\x21-\x7e]{1,64}$/.test(value)) {
    throw new ConfigurationError(
      'cache.keyPrefix',
      'expected 1 to 64 printable ASCII characters without spaces',
    );
  }
  return value;
}

function encryptionKey(value: string | Buffer | undefined): Buffer | undefined {
  if (value === undefined) return undefined;
  const key = typeof value === 'string' ? Buffer.from(value, 'base64') : value;
  if (key.length !== 32) {
    throw new ConfigurationError(
      'cache.encryptionKey',
      'expected 32 bytes (base64 string or Buffer)',
    );
  }
  return key;
}
