import { ConfigurationError } from '../errors/configuration.error.js';

const LOOPBACK_HOSTS = new Set(['localhost', '[::1]', '::1']);

/** True for 127.0.0.0/8, ::1 and localhost: the only hosts plain HTTP is accepted for by default. */
export function isLoopbackHost(hostname: string): boolean {
  return LOOPBACK_HOSTS.has(hostname) || /^127(?:\.\d{1,3}){3}$/.test(hostname);
}

/**
 * Parses an endpoint URL and refuses what must never carry credentials: non-HTTP(S) schemes,
 * embedded user info, fragments, and `http://` off loopback unless insecure development is allowed.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-3.2 (TLS required)
 */
export function parseEndpointUrl(option: string, value: unknown, allowInsecureHttp: boolean): URL {
  if (typeof value !== 'string' || value.length === 0) {
    throw new ConfigurationError(option, 'expected an absolute https:// URL');
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigurationError(option, 'expected an absolute https:// URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new ConfigurationError(option, 'expected an https:// URL');
  }
  if (url.username || url.password || url.hash) {
    throw new ConfigurationError(option, 'must not contain credentials or a fragment');
  }
  if (url.protocol === 'http:' && !allowInsecureHttp && !isLoopbackHost(url.hostname)) {
    throw new ConfigurationError(
      option,
      'http:// is accepted only for loopback hosts; use https:// or set allowInsecureHttp for development',
    );
  }
  return url;
}
