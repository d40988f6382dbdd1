/** How the demo writes: colours only on a terminal, and never a whole token or secret. */

/** Colours of the demo's output. */
export type Style = 'bold' | 'dim' | 'green' | 'red' | 'cyan';

const CODES: Record<Style, [open: string, close: string]> = {
  bold: ['\x1b[1m', '\x1b[22m'],
  dim: ['\x1b[2m', '\x1b[22m'],
  green: ['\x1b[32m', '\x1b[39m'],
  red: ['\x1b[31m', '\x1b[39m'],
  cyan: ['\x1b[36m', '\x1b[39m'],
};

/** Options of the demo's formatters. */
export interface FormatOptions {
  /** ANSI colours; default none. `main.ts` decides with {@link useColor}. */
  color?: boolean;
}

/**
 * Colours go to a terminal only, and not when `NO_COLOR` is set to anything but the empty string
 * (https://no-color.org).
 */
export function useColor(
  stream: { isTTY?: boolean },
  env: Record<string, string | undefined>,
): boolean {
  return stream.isTTY === true && !env.NO_COLOR;
}

/** `text` in `style`, or as is without colours. */
export function paint(text: string, style: Style, color: boolean | undefined): string {
  if (!color) return text;
  const [open, close] = CODES[style];
  return `${open}${text}${close}`;
}

/** What stands for the hidden part of a token or secret. */
export const REDACTED = '…(redacted)';

/**
 * A token as the demo shows it: its first characters, at most three and never more than a quarter of
 * it, then `…(redacted)`. Enough to tell a JWT (`eyJ`) from an opaque token; useless to anyone else.
 */
export function redactToken(token: string): string {
  return `${token.slice(0, Math.min(3, Math.floor(token.length / 4)))}${REDACTED}`;
}

/** `Authorization` header as the demo shows it: the scheme, the Basic client id, no credential. */
export function redactAuthorization(value: string | null | undefined): string | undefined {
  if (!value) return undefined;
  const [scheme, credentials = ''] = value.split(/ +/, 2) as [string, string?];
  if (/^bearer$/i.test(scheme)) return `${scheme} ${redactToken(credentials)}`;
  if (/^basic$/i.test(scheme)) {
    const decoded = Buffer.from(credentials, 'base64').toString('utf8');
    const id = decoded.includes(':') ? decoded.slice(0, decoded.indexOf(':')) : '';
    // RFC 6749 §2.3.1: the id is form-urlencoded before it is joined with the secret.
    const clientId = decodeURIComponent(id.replace(/\+/g, ' '));
    return `${scheme} ${clientId ? `${clientId}:` : ''}${REDACTED}`;
  }
  return `${scheme} ${REDACTED}`;
}

/** Parameters that carry a token or a credential: shown redacted in requests and answers. */
const TOKEN_PARAMS = new Set(['access_token', 'refresh_token', 'id_token', 'token']);
const SECRET_PARAMS = new Set(['client_secret', 'client_assertion', 'assertion', 'password']);

/** One parameter's value as the demo shows it. */
export function redactParam(name: string, value: string): string {
  if (TOKEN_PARAMS.has(name)) return redactToken(value);
  if (SECRET_PARAMS.has(name)) return REDACTED;
  return value;
}

/** Form or query parameters as the demo shows them (`grant_type=client_credentials&token=eyJ…`). */
export function redactParams(params: URLSearchParams): string {
  return [...params].map(([name, value]) => `${name}=${redactParam(name, value)}`).join('&');
}
