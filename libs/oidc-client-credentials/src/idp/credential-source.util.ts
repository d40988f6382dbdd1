import { readFile, stat } from 'node:fs/promises';
import { decodeJwt } from 'jose';
import { TokenRequestError } from '../errors/token-request.error.js';

/**
 * Where a client's credential comes from, as health and events name it (never its value):
 *
 * - `secret`: a `clientSecret` string;
 * - `secret-provider`: a `clientSecret` function, asked before each token request;
 * - `assertion-file`: `clientAssertion.file`, read again whenever the file changes;
 * - `assertion-provider`: `clientAssertion.get`, asked before each token request;
 * - `private-key`: a private JWK or `CryptoKey` that signs each assertion here;
 * - `signer`: a `JwsSigner` (a KMS or HSM key) that signs each assertion where the key lives;
 * - `certificate`: the TLS client certificate (`mtls`) of `tls_client_auth` and
 *   `self_signed_tls_client_auth`.
 */
export type CredentialSource =
  | 'secret'
  | 'secret-provider'
  | 'assertion-file'
  | 'assertion-provider'
  | 'private-key'
  | 'signer'
  | 'certificate';

/** Which credential a client uses and when it was last read; never the credential itself. */
export interface CredentialStatus {
  readonly source: CredentialSource;
  /** When a provider last gave, or the file last was read into, a value (ms since the epoch). */
  readonly readAt?: number;
  /** The assertion file's path, for `assertion-file`. */
  readonly file?: string;
}

/** Why a credential could not be had. */
export type CredentialFailure =
  | 'provider-failed'
  | 'provider-timed-out'
  | 'not-a-string'
  | 'empty'
  | 'file-missing'
  | 'file-unreadable'
  | 'assertion-malformed'
  | 'assertion-expired'
  | 'signing-failed';

/**
 * The client's credential could not be had from its provider or file
 * (`OIDC_CC_CREDENTIAL_UNAVAILABLE`): no token request was sent. The message names the source, the
 * file's path and the cause; never the value, and not the provider's own error message (it may
 * quote the value) — only its name, with the error itself as `cause`. Final: not retried.
 */
export class CredentialError extends TokenRequestError {
  constructor(
    readonly source: CredentialSource,
    readonly reason: CredentialFailure,
    message: string,
    options?: { cause?: unknown; file?: string },
  ) {
    super(
      'OIDC_CC_CREDENTIAL_UNAVAILABLE',
      message,
      {},
      options?.cause === undefined ? undefined : { cause: options.cause },
    );
    this.file = options?.file;
  }

  /** The assertion file's path, when the credential is one. */
  readonly file?: string;
}

/** A value read per request, from a provider function or a file. */
export interface CredentialReader {
  readonly source: CredentialSource;
  /** The value for the next request: a provider is asked, a file read when it changed. */
  read(signal: AbortSignal): Promise<string>;
  /**
   * After the ID service refused the value just sent (`invalid_client`): asks the provider once
   * more, or reads the file whatever its mtime. `true` when that gave another value, which the
   * next {@link read} then returns without asking again.
   */
  reread(signal: AbortSignal, refused: string): Promise<boolean>;
  status(): CredentialStatus;
}

/**
 * Reads a secret or an assertion from an async function, within the request's deadline.
 *
 * @param what e.g. `'clientSecret'`, for messages.
 */
export function providerReader(
  source: 'secret-provider' | 'assertion-provider',
  what: string,
  provide: (context: { signal: AbortSignal }) => Promise<string>,
  check: (value: string) => void = () => undefined,
): CredentialReader {
  let readAt: number | undefined;
  let pending: string | undefined;
  const ask = async (signal: AbortSignal) => {
    const value = await withinDeadline(source, what, signal, async () => {
      try {
        return (await provide({ signal })) as unknown;
      } catch (error) {
        throw new CredentialError(
          source,
          'provider-failed',
          `The ${what} provider failed (${errorName(error)}); no token request was sent`,
          { cause: error },
        );
      }
    });
    const checked = checkValue(source, what, value);
    check(checked);
    readAt = Date.now();
    return checked;
  };
  return {
    source,
    async read(signal) {
      if (pending !== undefined) {
        const value = pending;
        pending = undefined;
        return value;
      }
      return ask(signal);
    },
    async reread(signal, refused) {
      const value = await ask(signal);
      if (value === refused) return false;
      pending = value;
      return true;
    },
    status: () => ({ source, ...(readAt === undefined ? {} : { readAt }) }),
  };
}

/**
 * Reads an assertion from a file (a Kubernetes projected service account token, a workload
 * identity token): read again before a request only when its mtime or size changed, and refused
 * when it holds an expired JWT (its `exp` is read without verifying the signature: the ID service
 * verifies it).
 */
export function assertionFileReader(file: string): CredentialReader {
  const source = 'assertion-file';
  let cached: { mtimeMs: number; size: number; value: string } | undefined;
  let readAt: number | undefined;
  const load = async (signal: AbortSignal, force: boolean) =>
    withinDeadline(source, `assertion file ${file}`, signal, async () => {
      let info: { mtimeMs: number; size: number };
      try {
        info = await stat(file);
      } catch (error) {
        throw fileError(file, error);
      }
      if (!force && cached && cached.mtimeMs === info.mtimeMs && cached.size === info.size) {
        return cached.value;
      }
      let text: string;
      try {
        text = await readFile(file, { encoding: 'utf8', signal });
      } catch (error) {
        throw fileError(file, error);
      }
      const value = checkValue(source, `assertion file ${file}`, text.trim(), file);
      cached = { mtimeMs: info.mtimeMs, size: info.size, value };
      readAt = Date.now();
      return value;
    });
  return {
    source,
    async read(signal) {
      const value = await load(signal, false);
      assertUnexpired(value, source, `The client assertion in ${file}`, file);
      return value;
    },
    async reread(signal, refused) {
      const value = await load(signal, true);
      assertUnexpired(value, source, `The client assertion in ${file}`, file);
      return value !== refused;
    },
    status: () => ({ source, file, ...(readAt === undefined ? {} : { readAt }) }),
  };
}

/**
 * Refuses an assertion that is no JWT or whose `exp` has passed (not verified: the ID service
 * does that). Such an assertion would only be refused, and sending it again would not help.
 */
export function assertUnexpired(
  assertion: string,
  source: CredentialSource,
  what: string,
  file?: string,
): void {
  let exp: unknown;
  try {
    exp = decodeJwt(assertion).exp;
  } catch {
    throw new CredentialError(source, 'assertion-malformed', `${what} is not a JWT`, { file });
  }
  if (typeof exp === 'number' && exp * 1000 <= Date.now()) {
    const ago = Math.round(Date.now() / 1000 - exp);
    throw new CredentialError(
      source,
      'assertion-expired',
      `${what} expired ${ago} s ago (exp ${new Date(exp * 1000).toISOString()}); is the file still being rotated?`,
      { file },
    );
  }
}

/**
 * Runs `read` until `signal` aborts: a provider (or a signer) that hangs fails with the request's
 * deadline. Without a signal, `read` is awaited as it is.
 */
export async function withinDeadline<T>(
  source: CredentialSource,
  what: string,
  signal: AbortSignal | undefined,
  read: () => Promise<T>,
): Promise<T> {
  if (signal === undefined) return read();
  const timedOut = () =>
    new CredentialError(
      source,
      'provider-timed-out',
      `The ${what} gave no value within the token request's deadline; no token request was sent`,
    );
  if (signal.aborted) throw timedOut();
  let onAbort!: () => void;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(timedOut());
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([read(), aborted]);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

function checkValue(source: CredentialSource, what: string, value: unknown, file?: string): string {
  if (typeof value !== 'string') {
    throw new CredentialError(
      source,
      'not-a-string',
      `The ${what} provider gave ${value === null ? 'null' : typeof value}, not a string`,
    );
  }
  if (value.trim() === '') {
    throw new CredentialError(
      source,
      'empty',
      file ? `The ${what} is empty` : `The ${what} provider gave an empty string`,
      { file },
    );
  }
  return value;
}

function fileError(file: string, error: unknown): CredentialError {
  const code = (error as { code?: unknown } | null)?.code;
  const errno = typeof code === 'string' ? code : errorName(error);
  const missing = code === 'ENOENT' || code === 'ENOTDIR';
  return new CredentialError(
    'assertion-file',
    missing ? 'file-missing' : 'file-unreadable',
    missing
      ? `The client assertion file ${file} does not exist (${errno})`
      : `The client assertion file ${file} cannot be read (${errno})`,
    { cause: error, file },
  );
}

function errorName(error: unknown): string {
  const name = (error as { name?: unknown } | null)?.name;
  return typeof name === 'string' && /^[\w.-]{1,60}$/.test(name) ? name : 'unknown error';
}
