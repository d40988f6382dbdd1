import { ConfigurationError } from '../errors/configuration.error.js';
import { sanitizeForLog } from '../errors/sanitize.util.js';
import { parseEndpointUrl } from './endpoint-url.util.js';

/**
 * `authorizedHttp.resources` checked: each key an origin (`https://api.example.com`, a port if
 * not the default; plain `http://` only for loopback hosts unless `allowInsecureHttp`), each value
 * one or more RFC 8707 resource indicators (absolute URIs without fragment). The result is keyed
 * by the URL's origin (`https://API.example.com:443/` → `https://api.example.com`), so a request's
 * origin finds its entry whatever way the key was written.
 *
 * @throws ConfigurationError naming `option` and the key at fault.
 * @see https://www.rfc-editor.org/rfc/rfc8707#section-2
 */
export function resolveResources(
  option: string,
  value: unknown,
  allowInsecureHttp: boolean,
): Readonly<Record<string, string[]>> | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigurationError(
      option,
      "expected an object from each API's origin to its resource indicator, e.g. { 'https://api.example.com': 'https://api.example.com/' }",
    );
  }
  const resolved: Record<string, string[]> = {};
  for (const [key, indicators] of Object.entries(value as Record<string, unknown>)) {
    const label = `${option}[${JSON.stringify(sanitizeForLog(key, 100))}]`;
    const origin = parseEndpointUrl(label, key, allowInsecureHttp);
    if (origin.pathname !== '/' || origin.search !== '' || key.includes('?')) {
      throw new ConfigurationError(
        label,
        'expected an origin: scheme, host and port only, e.g. https://api.example.com',
      );
    }
    if (Object.hasOwn(resolved, origin.origin)) {
      throw new ConfigurationError(label, `names the origin ${origin.origin} a second time`);
    }
    resolved[origin.origin] = resourceIndicators(label, indicators);
  }
  return resolved;
}

function resourceIndicators(label: string, value: unknown): string[] {
  const items = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(items) || items.length === 0) {
    throw new ConfigurationError(
      label,
      'expected a resource indicator or a non-empty array of them',
    );
  }
  return [...new Set(items.map((item) => resourceIndicator(label, item)))].sort();
}

function resourceIndicator(label: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || !/^[\x21-\x7e]+$/.test(value)) {
    throw new ConfigurationError(label, 'expected an absolute URI (RFC 8707 §2)');
  }
  try {
    new URL(value);
  } catch {
    throw new ConfigurationError(label, 'expected an absolute URI (RFC 8707 §2)');
  }
  if (value.includes('#')) {
    throw new ConfigurationError(label, 'a resource indicator has no fragment (RFC 8707 §2)');
  }
  return value;
}
