import { graphqlTransport } from './graphql.transport.js';
import { httpTransport } from './http.transport.js';
import { rpcTransport } from './rpc.transport.js';
import type { TransportAdapter } from './transport-adapter.interface.js';
import { wsTransport } from './ws.transport.js';

const ADAPTERS = {
  http: httpTransport,
  graphql: graphqlTransport,
  rpc: rpcTransport,
  ws: wsTransport,
} satisfies Record<string, TransportAdapter>;

/** An execution context type the guard reads a bearer token from. */
export type ContextTransport = keyof typeof ADAPTERS;

/**
 * The adapter of each execution context type `ClientTokenGuard` reads a bearer token from. A
 * context type without one is denied. Supporting another transport is one adapter and one entry.
 */
export const TRANSPORT_ADAPTERS: Readonly<Record<ContextTransport, TransportAdapter>> =
  Object.freeze(ADAPTERS);

/** The context types besides `http`, which answer a refusal with their own error. */
export type GuardedTransport = Exclude<ContextTransport, 'http'>;

/** The supported context types as a sentence, for the warning about the others. */
export const SUPPORTED_CONTEXT_TYPES = listed(Object.keys(TRANSPORT_ADAPTERS));

/** The adapter of a context type, or `undefined` for one the guard cannot read. */
export function transportAdapter(type: string): TransportAdapter | undefined {
  return isContextTransport(type) ? TRANSPORT_ADAPTERS[type] : undefined;
}

/** Whether a context type besides `http` has an adapter. */
export function isGuardedTransport(type: string): type is GuardedTransport {
  return type !== 'http' && isContextTransport(type);
}

function isContextTransport(type: string): type is ContextTransport {
  return Object.hasOwn(TRANSPORT_ADAPTERS, type);
}

function listed(names: readonly string[]): string {
  return names.length < 2 ? names.join('') : `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`;
}
