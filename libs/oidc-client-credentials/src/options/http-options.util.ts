import { createPrivateKey, X509Certificate } from 'node:crypto';
import { ConfigurationError } from '../errors/configuration.error.js';
import { certificateThumbprint } from '../proof-of-possession/confirmation.util.js';
import type {
  HttpLimitsOptions,
  MtlsOptions,
} from './oidc-client-credentials-options.interface.js';
import { positive } from './option-values.util.js';
import type { ResolvedOptions } from './resolved-options.js';

/** What reaches the ID service, besides the limits: at most one of these is set. */
const TRANSPORT_KEYS = ['dispatcher', 'fetch', 'proxy'] as const;

/**
 * The `http` options: the limits of every call to the ID service and the transport it goes
 * through (`dispatcher`, `fetch` or `proxy: 'env'`, at most one of them).
 */
export function resolveHttp(http: HttpLimitsOptions | undefined): ResolvedOptions['http'] {
  const resolved: ResolvedOptions['http'] = {
    timeoutMs: positive('http.timeoutMs', http?.timeoutMs, 5000),
    maxResponseBytes: positive('http.maxResponseBytes', http?.maxResponseBytes, 65_536),
  };
  const given = TRANSPORT_KEYS.filter((key) => http?.[key] !== undefined);
  if (given.length > 1) {
    throw new ConfigurationError(
      `http.${given[1]}`,
      `not with http.${given[0]}: the calls to the ID service go through one of http.dispatcher, http.fetch or http.proxy`,
    );
  }
  const { dispatcher, fetch, proxy } = http ?? {};
  if (dispatcher !== undefined) {
    if (typeof (dispatcher as { dispatch?: unknown } | null)?.dispatch !== 'function') {
      throw new ConfigurationError(
        'http.dispatcher',
        'expected an undici Dispatcher (an Agent, ProxyAgent or EnvHttpProxyAgent of the undici package)',
      );
    }
    resolved.dispatcher = dispatcher;
  }
  if (fetch !== undefined) {
    if (typeof fetch !== 'function') {
      throw new ConfigurationError('http.fetch', 'expected a fetch-compatible function');
    }
    resolved.fetch = fetch;
  }
  if (proxy !== undefined) {
    if (proxy !== 'env') {
      throw new ConfigurationError(
        'http.proxy',
        "expected 'env' (HTTPS_PROXY, HTTP_PROXY and NO_PROXY); for another proxy set http.dispatcher to an undici ProxyAgent",
      );
    }
    resolved.proxy = proxy;
  }
  return resolved;
}

/**
 * A client's certificate for mutual TLS with the ID service (RFC 8705), checked now: PEM
 * certificate, PEM private key of that certificate, optional PEM CA bundle. Messages name the
 * option, never the key's content.
 */
export function resolveMtls(
  value: MtlsOptions | undefined,
  optionPrefix: string,
  http: HttpLimitsOptions | undefined,
): ResolvedOptions['mtls'] {
  if (value === undefined) return undefined;
  const option = `${optionPrefix}mtls`;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigurationError(option, 'expected { cert, key, ca? } with PEM strings');
  }
  const transport =
    http?.dispatcher !== undefined ? 'dispatcher' : http?.fetch !== undefined ? 'fetch' : undefined;
  if (transport !== undefined) {
    throw new ConfigurationError(
      option,
      `not with http.${transport}: the certificate is presented by the undici Agent the module builds; give your own dispatcher the certificate (connect: { cert, key }) instead, or use http.proxy: 'env'`,
    );
  }
  const { cert, key, ca } = value;
  let certificate: X509Certificate;
  try {
    if (typeof cert !== 'string') throw new TypeError();
    certificate = new X509Certificate(cert);
  } catch {
    throw new ConfigurationError(`${option}.cert`, 'expected a PEM certificate');
  }
  let privateKey: ReturnType<typeof createPrivateKey>;
  try {
    if (typeof key !== 'string' || !key.includes('-----BEGIN')) throw new TypeError();
    privateKey = createPrivateKey(key);
  } catch {
    throw new ConfigurationError(
      `${option}.key`,
      'expected an unencrypted PEM private key (its content is not shown)',
    );
  }
  if (!certificate.checkPrivateKey(privateKey)) {
    throw new ConfigurationError(`${option}.key`, `is not the private key of ${option}.cert`);
  }
  if (ca !== undefined) {
    try {
      if (typeof ca !== 'string') throw new TypeError();
      new X509Certificate(ca);
    } catch {
      throw new ConfigurationError(`${option}.ca`, 'expected PEM CA certificates');
    }
  }
  return {
    cert,
    key,
    ...(ca === undefined ? {} : { ca }),
    thumbprint: certificateThumbprint(certificate.raw),
  };
}

/**
 * A client authenticated by its certificate (`tls_client_auth`, `self_signed_tls_client_auth`)
 * sends no other credential (one client authentication method per request, RFC 6749 §2.3).
 */
export function assertTlsClientAuthAlone(client: ResolvedOptions): void {
  const method = client.clientAuthMethod;
  if (method !== 'tls_client_auth' && method !== 'self_signed_tls_client_auth') return;
  const prefix = client.credentialsOptionPrefix ?? '';
  const other =
    client.clientSecret !== undefined
      ? 'clientSecret'
      : client.privateKey !== undefined
        ? 'privateKey'
        : undefined;
  if (other !== undefined) {
    throw new ConfigurationError(
      `${prefix}${other}`,
      `must not be set with ${method}: the certificate of ${prefix}mtls is the credential`,
    );
  }
}

/** `{ mtls }` when there is a certificate, else nothing (no `mtls: undefined` key). */
export function definedMtls(mtls: ResolvedOptions['mtls']): Pick<ResolvedOptions, 'mtls'> {
  return mtls === undefined ? {} : { mtls };
}
