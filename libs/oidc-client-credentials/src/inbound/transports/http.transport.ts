import { HttpException, type ExecutionContext } from '@nestjs/common';
import { bearerRequestParts } from '../bearer-token.util.js';
import type { Refusal, TransportAdapter } from './transport-adapter.interface.js';

/**
 * HTTP requests (Express or Fastify): the token where `verification.tokenLocations` allows, kept
 * for the request; a refusal sets `WWW-Authenticate` (or `Retry-After`) on the response and
 * becomes an `HttpException` with the RFC 6750 status and a `{ statusCode, error, message }` body.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3
 */
export const httpTransport = {
  locations: (configured) => configured,
  bearerParts: (context) => bearerRequestParts(httpRequest(context)),
  carrier: (context) => httpRequest(context),
  httpRequest: (context) => httpRequest(context),
  carrierOutlivesRequest: false,
  refuse(
    { answer, header, headers }: Refusal,
    context: ExecutionContext | undefined,
  ): HttpException {
    if (context) {
      const response = context.switchToHttp().getResponse<object>();
      setHeader(response, header[0], header[1]);
      for (const [name, value] of headers ?? []) setHeader(response, name, value);
    }
    return new HttpException(
      {
        statusCode: answer.status,
        error: answer.error ?? (answer.status === 503 ? 'Service Unavailable' : 'Unauthorized'),
        message: answer.description,
      },
      answer.status,
    );
  },
} satisfies TransportAdapter;

/**
 * The request: the context's first argument, what `switchToHttp().getRequest()` answers, read
 * directly (on every guarded request; Nest's `switchToHttp()` builds three closures each call).
 */
function httpRequest(context: ExecutionContext): object {
  return context.getArgByIndex<object>(0);
}

function setHeader(response: object, name: string, value: string): void {
  const res = response as {
    header?: (name: string, value: string) => unknown;
    setHeader?: (name: string, value: string) => unknown;
  };
  // Fastify's reply and Express's response both have header(); a bare Node response setHeader().
  if (typeof res.header === 'function') res.header(name, value);
  else if (typeof res.setHeader === 'function') res.setHeader(name, value);
}
