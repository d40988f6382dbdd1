import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';

/** One request as the fake ID service received it. */
export interface RecordedRequest {
  /** HTTP method, e.g. `POST`. */
  method: string;
  /** Path without the query, e.g. `/openid/token`. */
  path: string;
  /** Query parameters. */
  query: URLSearchParams;
  /** Request headers, names in lower case. */
  headers: IncomingHttpHeaders;
  /** Raw body as UTF-8 text. */
  body: string;
  /** The body parsed as `application/x-www-form-urlencoded` (empty for other content types). */
  form: URLSearchParams;
}

/** What a handler answers. An object body is sent as JSON; a string as is. */
export interface FakeResponse {
  /** HTTP status. Default `200`. */
  status?: number;
  /** Extra response headers; `content-type` defaults to JSON for objects, text for strings. */
  headers?: Record<string, string>;
  /** Response body: an object is sent as JSON, a string as is. */
  body?: unknown;
  /** Wait this long before answering. */
  delayMs?: number;
  /** Never answer (the connection is closed when the service closes). */
  hang?: boolean;
  /** Destroy the socket without answering. */
  reset?: boolean;
}

/** Returns a response, or `undefined` to fall through to the default behaviour. */
export type FakeHandler = (
  request: RecordedRequest,
) => FakeResponse | undefined | Promise<FakeResponse | undefined>;

/** What {@link recordRequest} needs of a request: any HTTP framework's request has it. */
export interface RequestParts {
  /** HTTP method. Default `GET`. */
  method?: string;
  /** Path and query as received, e.g. `/openid/token?grant_type=client_credentials`. */
  url?: string;
  /** Request headers, names in lower case. */
  headers: IncomingHttpHeaders;
  /** Raw body as UTF-8 text (`''` when there is none). */
  body: string;
}

/**
 * A request as the endpoints read it: the form body is parsed only for
 * `application/x-www-form-urlencoded` (RFC 6749 §3.2).
 *
 * @example
 * const request = recordRequest({ method: 'POST', url: req.originalUrl, headers: req.headers, body });
 */
export function recordRequest(parts: RequestParts): RecordedRequest {
  const url = new URL(parts.url ?? '/', 'http://localhost');
  return {
    method: parts.method ?? 'GET',
    path: url.pathname,
    query: url.searchParams,
    headers: parts.headers,
    body: parts.body,
    form: isFormBody(parts.headers['content-type'])
      ? new URLSearchParams(parts.body)
      : new URLSearchParams(),
  };
}

/** Reads a whole request from a `node:http` server. */
export async function readRequest(req: IncomingMessage): Promise<RecordedRequest> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return recordRequest({
    method: req.method,
    url: req.url,
    headers: req.headers,
    body: Buffer.concat(chunks).toString('utf8'),
  });
}

/**
 * Sends an answer on a `node:http` response (an Express response is one), after its `delayMs`;
 * `hang` sends nothing and `reset` destroys the socket.
 */
export async function writeResponse(res: ServerResponse, answer: FakeResponse): Promise<void> {
  if (answer.delayMs) await new Promise((resolve) => setTimeout(resolve, answer.delayMs));
  if (answer.hang) return;
  if (answer.reset) {
    res.socket?.destroy();
    return;
  }
  const isString = typeof answer.body === 'string';
  const payload =
    answer.body === undefined
      ? ''
      : isString
        ? (answer.body as string)
        : JSON.stringify(answer.body);
  res.writeHead(answer.status ?? 200, {
    'content-type': isString ? 'text/plain' : 'application/json',
    ...answer.headers,
  });
  res.end(payload);
}

function isFormBody(contentType: string | undefined): boolean {
  return /^application\/x-www-form-urlencoded\s*(;|$)/i.test(contentType ?? '');
}
