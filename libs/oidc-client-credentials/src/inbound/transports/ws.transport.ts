import type { IncomingMessage } from 'node:http';
import type { TokenLocation } from '../../options/oidc-client-credentials-options.interface.js';
import { bearerRequestParts, type BearerRequestParts } from '../bearer-token.util.js';
import { headerValues, invalidCredentials, isObject } from './header-values.js';
import type { TransportAdapter } from './transport-adapter.interface.js';

const HANDSHAKE = Symbol('nest-oidc-client-credentials:handshake');
/** A handshake has no body; browsers cannot set headers on it, hence the query when enabled. */
const HANDSHAKE_LOCATIONS: readonly TokenLocation[] = ['header', 'query'];

type WsExceptionClass = new (error: string | object) => Error;
let wsExceptionClass: Promise<WsExceptionClass> | undefined;

/**
 * WebSocket messages (@nestjs/platform-ws and Socket.IO): the token of the client's handshake
 * ({@link wsBearerParts}), checked on every message and kept for the client per handler, since
 * one client's messages interleave. A refusal becomes a `WsException` carrying the
 * `TransportRefusal`, which Nest's WebSocket filter sends back as an `exception` event.
 */
export const wsTransport = {
  locations: (configured) =>
    configured.filter((location) => HANDSHAKE_LOCATIONS.includes(location)),
  bearerParts: (context) => wsBearerParts(context.switchToWs().getClient<unknown>()),
  missingPartsWarning:
    'A WebSocket message was refused: its client has no handshake to read a token from (with @nestjs/platform-ws, call attachHandshake(client, request) in handleConnection)',
  carrier(context) {
    const client: unknown = context.switchToWs().getClient();
    return isObject(client) ? client : undefined;
  },
  carrierOutlivesRequest: true,
  refuse: async ({ payload }) => new (await wsException())(payload),
} satisfies TransportAdapter;

/**
 * Keeps what `ClientTokenGuard` needs from a `ws` (@nestjs/platform-ws) connection's upgrade
 * request — its `Authorization` lines and URL, not the request itself — on the client, so that the
 * guard can check the handshake's bearer token on every message. Call it in the gateway's
 * `handleConnection`; Socket.IO clients keep their handshake already and need nothing.
 *
 * @example
 * handleConnection(client: WebSocket, request: IncomingMessage) {
 *   attachHandshake(client, request);
 * }
 */
export function attachHandshake(client: object, request: IncomingMessage): void {
  const parts = bearerRequestParts(request);
  const kept: BearerRequestParts = {
    method: 'GET',
    authorization: Object.freeze([...parts.authorization]),
    url: parts.url,
  };
  Object.defineProperty(client, HANDSHAKE, { value: Object.freeze(kept), configurable: true });
}

/**
 * The bearer-relevant parts of a WebSocket client's handshake: a Socket.IO socket's
 * `handshake` (its `Authorization` header or `auth.token`, the token alone), or the upgrade
 * request that {@link attachHandshake} kept on a `ws` client. `undefined` when there is neither.
 */
export function wsBearerParts(client: unknown): BearerRequestParts | undefined {
  if (!isObject(client)) return undefined;
  const kept = (client as { [HANDSHAKE]?: BearerRequestParts })[HANDSHAKE];
  if (kept) return kept;
  const { handshake, request } = client as { handshake?: unknown; request?: unknown };
  return isObject(handshake) ? socketIoParts(handshake as SocketIoHandshake, request) : undefined;
}

/**
 * Nest's WebSocket filter answers only a `WsException` with its payload (anything else becomes
 * "Internal server error"), so the app's own copy is loaded, once, when a message is refused.
 */
function wsException(): Promise<WsExceptionClass> {
  return (wsExceptionClass ??= import('@nestjs/websockets').then((m) => m.WsException));
}

interface SocketIoHandshake {
  headers?: Record<string, string | string[] | undefined>;
  url?: string;
  auth?: Record<string, unknown>;
}

function socketIoParts(handshake: SocketIoHandshake, request: unknown): BearerRequestParts {
  // The handshake's headers are Node's `request.headers`, which keep only the first Authorization
  // line; the socket's request (the same HTTP request) has every line in `rawHeaders`.
  const lines =
    isObject(request) && Array.isArray((request as { rawHeaders?: unknown }).rawHeaders)
      ? [...bearerRequestParts(request).authorization]
      : headerValues(handshake.headers);
  const auth = handshake.auth;
  if (isObject(auth) && Object.hasOwn(auth, 'token')) {
    const token = auth.token;
    if (typeof token !== 'string') throw invalidCredentials('auth.token');
    lines.push(`Bearer ${token}`);
  }
  return { method: 'GET', authorization: lines, url: handshake.url ?? '/' };
}
