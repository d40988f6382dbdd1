import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  assertionFileReader,
  CredentialError,
  providerReader,
  type CredentialFailure,
} from './credential-source.util.js';

/** An unsigned JWT-shaped assertion: the reader decodes `exp`, the ID service verifies. */
function assertion(claims: Record<string, unknown>): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'RS256' })}.${part(claims)}.c2lnbmF0dXJl`;
}
const inAnHour = () => Math.floor(Date.now() / 1000) + 3600;
const SECRET_VALUE = 'vault-secret-value-1234';

describe('providerReader', () => {
  const never = new AbortController().signal;

  it.each<[string, () => Promise<unknown>, CredentialFailure, RegExp]>([
    [
      'throws',
      async () => {
        throw new Error(`vault down, token ${SECRET_VALUE}`);
      },
      'provider-failed',
      /The clientSecret provider failed \(Error\)/,
    ],
    ['answers a number', async () => 42, 'not-a-string', /gave number, not a string/],
    ['answers undefined', async () => undefined, 'not-a-string', /gave undefined/],
    ['answers null', async () => null, 'not-a-string', /gave null/],
    ['answers an empty string', async () => '', 'empty', /gave an empty string/],
    ['answers blanks', async () => '  ', 'empty', /gave an empty string/],
  ])('a provider that %s: CredentialError', async (_case, provide, reason, message) => {
    const reader = providerReader(
      'secret-provider',
      'clientSecret',
      provide as () => Promise<string>,
    );
    const error = await reader.read(never).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CredentialError);
    expect(error).toMatchObject({ code: 'OIDC_CC_CREDENTIAL_UNAVAILABLE', reason });
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain(SECRET_VALUE);
    expect(reader.status()).toEqual({ source: 'secret-provider' });
  });

  it('a provider that hangs: CredentialError when the signal aborts', async () => {
    const deadline = new AbortController();
    const reader = providerReader('secret-provider', 'clientSecret', () => new Promise(() => {}));
    const read = reader.read(deadline.signal).catch((e: unknown) => e);
    deadline.abort();
    await expect(read).resolves.toMatchObject({
      code: 'OIDC_CC_CREDENTIAL_UNAVAILABLE',
      reason: 'provider-timed-out',
    });
  });

  it('the provider is given the deadline signal, to pass on to what it waits for', async () => {
    const deadline = new AbortController();
    let given: AbortSignal | undefined;
    const reader = providerReader('secret-provider', 'clientSecret', ({ signal }) => {
      given = signal;
      return new Promise((_, reject) =>
        signal.addEventListener('abort', () => reject(signal.reason)),
      );
    });
    const read = reader.read(deadline.signal).catch((e: unknown) => e);
    deadline.abort();
    await expect(read).resolves.toMatchObject({ reason: 'provider-timed-out' });
    expect(given).toBe(deadline.signal);
  });

  it('reread: true only when the provider now gives another value, which the next read returns', async () => {
    const values = ['old', 'old', 'new'];
    let asked = 0;
    const reader = providerReader('secret-provider', 'clientSecret', async () => values[asked++]!);
    expect(await reader.read(never)).toBe('old');
    expect(await reader.reread(never, 'old')).toBe(false);
    expect(await reader.reread(never, 'old')).toBe(true);
    expect(await reader.read(never)).toBe('new');
    expect(asked).toBe(3);
    expect(reader.status().readAt).toEqual(expect.any(Number));
  });
});

describe('assertionFileReader', () => {
  let dir: string;
  const never = new AbortController().signal;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'oidc-cc-assertion-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('is read again only when the file changes', async () => {
    const file = join(dir, 'token');
    const first = assertion({ exp: inAnHour(), n: 1 });
    await writeFile(file, `${first}\n`);
    const reader = assertionFileReader(file);
    expect(await reader.read(never)).toBe(first);
    const readAt = reader.status().readAt;
    expect(await reader.read(never)).toBe(first);
    expect(reader.status()).toEqual({ source: 'assertion-file', file, readAt });

    const second = assertion({ exp: inAnHour(), n: 22 });
    await writeFile(file, second);
    await utimes(file, new Date(), new Date(Date.now() + 5_000));
    expect(await reader.read(never)).toBe(second);
  });

  it.each<[string, (file: string) => Promise<void>, CredentialFailure, RegExp]>([
    ['missing', async () => undefined, 'file-missing', /does not exist \(ENOENT\)/],
    [
      'unreadable (a directory)',
      async (file) => {
        await mkdir(file);
      },
      'file-unreadable',
      /cannot be read \(EISDIR\)/,
    ],
    ['empty', (file) => writeFile(file, '\n'), 'empty', /is empty/],
    ['not a JWT', (file) => writeFile(file, 'not-a-jwt'), 'assertion-malformed', /is not a JWT/],
    [
      'holding an expired assertion',
      (file) => writeFile(file, assertion({ exp: Math.floor(Date.now() / 1000) - 120 })),
      'assertion-expired',
      /expired 1[12]\d s ago/,
    ],
  ])('a file %s: CredentialError naming the path', async (_case, prepare, reason, message) => {
    const file = join(dir, 'token');
    await prepare(file);
    const error = await assertionFileReader(file)
      .read(never)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CredentialError);
    expect(error).toMatchObject({ code: 'OIDC_CC_CREDENTIAL_UNAVAILABLE', reason, file });
    expect((error as Error).message).toContain(file);
    expect((error as Error).message).toMatch(message);
  });

  it('reread reads the file whatever its mtime, and says whether it changed', async () => {
    const file = join(dir, 'token');
    const first = assertion({ exp: inAnHour(), n: 1 });
    await writeFile(file, first);
    const reader = assertionFileReader(file);
    await reader.read(never);
    expect(await reader.reread(never, first)).toBe(false);
    const second = assertion({ exp: inAnHour(), n: 2 });
    await writeFile(file, second);
    expect(await reader.reread(never, first)).toBe(true);
    expect(await reader.read(never)).toBe(second);
  });
});
