import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { JWK } from 'jose';

/** Client metadata as oidc-provider takes it (RFC 7591 names); grant/response types default to client credentials. */
export interface OidcProviderClient {
  client_id: string;
  client_secret?: string;
  token_endpoint_auth_method?:
    | 'client_secret_basic'
    | 'client_secret_post'
    | 'client_secret_jwt'
    | 'private_key_jwt'
    | 'tls_client_auth'
    | 'self_signed_tls_client_auth'
    | 'none';
  /** Public keys of a `private_key_jwt` client. */
  jwks?: { keys: JWK[] };
  /** Default `['client_credentials']`. */
  grant_types?: string[];
  /** Default `[]`. */
  response_types?: string[];
  /** Default `[]`. */
  redirect_uris?: string[];
  /** Space-separated scopes the client may be granted. */
  scope?: string;
  [metadata: string]: unknown;
}

export interface OidcProviderOptions {
  clients: OidcProviderClient[];
  /** `'jwt'`: RFC 9068 JWT access tokens (typ at+jwt, RS256); `'opaque'`: reference tokens. */
  accessTokenFormat: 'jwt' | 'opaque';
  /** Access token lifetime. Default 3600. */
  ttlSeconds?: number;
  /**
   * `aud` of tokens requested without a `resource` parameter. Default: the requesting client's id, as in
   * the seed's JWT payload. A token requested with `resource=<uri>` has that URI as its audience.
   */
  audience?: string;
  /**
   * Serve https with this certificate (PEM) and ask each client for its certificate, with
   * `features.mTLS` on (tls_client_auth by `tls_client_auth_subject_dn` `CN=<cn>`,
   * self_signed_tls_client_auth, certificate-bound tokens). A client certificate is authorized
   * when it chains to `ca`. Default: plain http, no mTLS.
   */
  tls?: { cert: string; key: string; ca?: string };
  /**
   * Clients allowed to introspect other clients' tokens (a client may always introspect its own).
   * Default: every confidential client.
   */
  introspectors?: string[];
  /**
   * Signed introspection answers (RFC 9701, `features.jwtIntrospection`) for clients registered with
   * `introspection_signed_response_alg` that ask for them. Default `false`.
   */
  jwtIntrospection?: boolean;
  /**
   * DPoP (RFC 9449, `features.dPoP`, on in oidc-provider v9): with `true`, token requests must
   * carry the provider's nonce (stateless nonces from a `nonceSecret`; a proof without one gets
   * `use_dpop_nonce`). Default `false`: proofs are accepted without a nonce.
   */
  dpopNonces?: boolean;
}

/** A running oidc-provider child process. */
export interface RunningOidcProvider {
  /** `http://127.0.0.1:<port>`; discovery at `${issuer}/.well-known/openid-configuration`. */
  readonly issuer: string;
  /** The seed's endpoint URLs on this provider. */
  readonly endpoints: {
    token: string;
    introspection: string;
    userinfo: string;
    jwks: string;
    revocation: string;
  };
  /** Stops the provider and waits for the process to exit. Safe to call twice. */
  close(): Promise<void>;
}

type ChildMessage = { type: 'ready'; port: number } | { type: 'error'; message: string };

const SERVER_SCRIPT = fileURLToPath(new URL('./oidc-provider-server.mjs', import.meta.url));
const STARTUP_TIMEOUT_MS = 15_000;
const STDERR_LIMIT = 8_192;

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

/** A child must never outlive the test process, even when a test forgets `close()`. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of running) child.kill('SIGKILL');
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  running.delete(child);
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill('SIGKILL'), 2_000);
    child.once('exit', () => {
      clearTimeout(force);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/**
 * Starts a real oidc-provider (v9) on 127.0.0.1 with a free port in a child process, configured with the
 * seed's paths (/openid/token, /openid/introspect, /openid/userinfo, /openid/jwks.json, plus /openid/revoke),
 * client credentials, introspection, revocation and resource indicators, and a fresh RS256 signing key.
 *
 * Known provider behaviour tests must expect: introspection of a client-credentials token answers
 * `client_id` but no `sub`; userinfo rejects client-credentials tokens; JWT access tokens are not
 * introspectable (`active: false`); client authentication in the URL query is not accepted.
 *
 * @example
 * const op = await startOidcProvider({
 *   clients: [{ client_id: 'app', client_secret: 's3cret', scope: 'orders:read' }],
 *   accessTokenFormat: 'jwt',
 * });
 * try { ... } finally { await op.close(); }
 */
export async function startOidcProvider(
  options: OidcProviderOptions,
): Promise<RunningOidcProvider> {
  installExitHook();
  const child = fork(SERVER_SCRIPT, [], {
    // Jest's --experimental-vm-modules must not leak into the child.
    execArgv: [],
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    env: { ...process.env, NODE_ENV: 'test' },
  });
  running.add(child);

  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-STDERR_LIMIT);
  });

  let port: number;
  try {
    port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`oidc-provider did not start in ${STARTUP_TIMEOUT_MS} ms`)),
        STARTUP_TIMEOUT_MS,
      );
      child.on('message', (message: ChildMessage) => {
        clearTimeout(timer);
        if (message.type === 'ready') resolve(message.port);
        else reject(new Error(`oidc-provider failed to start: ${message.message}`));
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`oidc-provider exited early (${code ?? signal}): ${stderr}`));
      });
      child.send({ type: 'start', options });
    });
  } catch (error) {
    await stopChild(child);
    throw error;
  }

  const issuer = `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  let closing: Promise<void> | undefined;
  return {
    issuer,
    endpoints: {
      token: `${issuer}/openid/token`,
      introspection: `${issuer}/openid/introspect`,
      userinfo: `${issuer}/openid/userinfo`,
      jwks: `${issuer}/openid/jwks.json`,
      revocation: `${issuer}/openid/revoke`,
    },
    close: () => (closing ??= stopChild(child)),
  };
}
