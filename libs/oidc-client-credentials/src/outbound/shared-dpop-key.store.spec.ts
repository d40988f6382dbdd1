import { Logger } from '@nestjs/common';
import { Keyv } from 'keyv';
import { SharedCache } from '../cache/shared-cache.provider.js';
import { resolveOptions } from '../options/resolve-options.util.js';
import type { ResolvedOptions } from '../options/resolved-options.js';
import { generateDpopKey, type DpopKey } from './dpop-key.util.js';
import { SharedDpopKeyStore } from './shared-dpop-key.store.js';

const KEY = Buffer.alloc(32, 7);

describe('SharedDpopKeyStore', () => {
  let backing: Map<string, unknown>;

  beforeAll(() => Logger.overrideLogger(false));
  afterAll(() => Logger.overrideLogger(new Logger()));
  beforeEach(() => {
    backing = new Map();
  });

  /** An instance on the store every instance shares (a Map behind a Keyv, for the test). */
  function instance(alg = 'ES256', sealed = true) {
    const encryptionKey = sealed ? KEY : undefined;
    const options: ResolvedOptions = resolveOptions({
      issuer: 'https://id.example.com',
      clientId: 'billing',
      clientSecret: 's3cret',
      dpop: encryptionKey ? { alg } : undefined,
      cache: {
        stores: [new Keyv({ store: backing })],
        ...(encryptionKey ? { encryptionKey } : {}),
      },
    });
    const shared = new SharedCache(options);
    return new SharedDpopKeyStore(shared, 'oidc-cc:token:abc', { ...options, dpop: { alg } });
  }

  const counting = (alg = 'ES256') => {
    const made: DpopKey[] = [];
    return {
      made,
      make: async () => {
        const key = await generateDpopKey(alg);
        made.push(key);
        return key;
      },
    };
  };

  it('the first instance makes the key and stores it sealed; the next takes it', async () => {
    const first = counting();
    const key = await instance().obtain(first.make);
    expect(first.made).toHaveLength(1);
    const stored = [...backing.values()].map(String).join('\n');
    expect(stored).not.toMatch(/"d"|"kty"/);

    const second = counting();
    const taken = await instance().obtain(second.make);
    expect(second.made).toHaveLength(0);
    expect(taken.thumbprint).toBe(key.thumbprint);
    expect(taken.publicJwk).toEqual(key.publicJwk);
  });

  it.each<[string, () => void]>([
    ['a key of another algorithm', () => undefined],
    [
      'a tampered value',
      () => {
        for (const [name, value] of backing) backing.set(name, String(value).replace(/.$/, 'x'));
      },
    ],
  ])('%s in the store is not taken', async (_case, spoil) => {
    await instance('ES384').obtain(counting('ES384').make);
    spoil();
    const next = counting();
    const key = await instance('ES256').obtain(next.make);
    expect(next.made.map((made) => made.thumbprint)).toEqual([key.thumbprint]);
  });

  it('an unsealed store is never written or read for a key', async () => {
    const plain = instance('ES256', false);
    const store = counting();
    await plain.obtain(store.make);
    await plain.obtain(store.make);
    expect(store.made).toHaveLength(2);
    expect(backing.size).toBe(0);
  });

  describe('sync, before each token request', () => {
    it.each<[string, 'same' | 'other' | 'none', 'current' | 'stored']>([
      ['the stored key is this one: kept (and written again)', 'same', 'current'],
      ['another key was stored meanwhile: taken', 'other', 'stored'],
      ['the store lost the key: this one is stored again', 'none', 'current'],
    ])('%s', async (_case, stored, expected) => {
      const store = instance();
      const current = await store.obtain(counting().make);
      const other = await generateDpopKey('ES256');
      if (stored !== 'same') backing.clear();
      // Another instance found the store empty and stored its own key.
      if (stored === 'other') await instance().obtain(async () => other);
      const synced = await store.sync(current);
      expect(synced.thumbprint).toBe((expected === 'current' ? current : other).thumbprint);
      // What the next instance takes is what this one now uses.
      expect((await instance().obtain(counting().make)).thumbprint).toBe(synced.thumbprint);
    });
  });
});
