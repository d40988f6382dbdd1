import { Agent, request, type Dispatcher } from 'undici';

/** Limits applied to every call to the ID service. */
export interface SafeFetchLimits {
  timeoutMs: number;
  maxResponseBytes: number;
}

/** A `fetch`-compatible function (the global `fetch`, undici's, or a wrapper around one). */
export type FetchLike = (url: string | URL, init?: RequestInit) => Promise<Response>;

/**
 * How calls reach the ID service: an undici `Dispatcher` (a proxy, a private CA, a client
 * certificate), or a `fetch` of your own; neither: a keep-alive undici `Agent`.
 */
export interface SafeFetchTransport {
  dispatcher?: Dispatcher;
  fetch?: FetchLike;
}

/** Raised when a response body exceeds the configured size cap. */
export class ResponseTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`response body larger than ${limit} bytes`);
    this.name = 'ResponseTooLargeError';
  }
}

/**
 * A `fetch` for the ID service: never follows redirects (RFC 9700 §4.12 — a redirected POST would
 * carry credentials elsewhere), fails after `timeoutMs` (answer and body together), and buffers at
 * most `maxResponseBytes`. Usable as oauth4webapi's and jose's `customFetch`.
 */
export type SafeFetch = (url: string | URL, init?: RequestInit) => Promise<Response>;

/**
 * The {@link SafeFetch} of one transport. With a dispatcher, or none, each call is one
 * `undici.request` on it (keep-alive, no web streams); with `transport.fetch`, that function is
 * called with `redirect: 'manual'` and a timeout signal, and its body is read under the cap.
 * Failures look like `fetch`'s: `TypeError('fetch failed')` with the system or undici error as
 * `cause`, a `TimeoutError` after `timeoutMs`, the caller's abort reason when its signal aborts.
 */
export function createSafeFetch(
  limits: SafeFetchLimits,
  transport: SafeFetchTransport = {},
): SafeFetch {
  if (transport.fetch) return throughFetch(transport.fetch, limits);
  return throughDispatcher(transport.dispatcher ?? createKeepAliveAgent(), limits);
}

/** The dispatcher used when none is configured: keep-alive connections, no redirects. */
export function createKeepAliveAgent(connect?: Agent.Options['connect']): Agent {
  return new Agent({ keepAliveTimeout: 10_000, connections: 16, connect });
}

function throughDispatcher(dispatcher: Dispatcher, limits: SafeFetchLimits): SafeFetch {
  return function safeFetch(url: string | URL, init: RequestInit = {}): Promise<Response> {
    // The same timer as fetch's callers use, so a test's fake AbortSignal.timeout drives it too.
    const timeout = AbortSignal.timeout(limits.timeoutMs);
    const signal = init.signal ? AbortSignal.any([init.signal, timeout]) : timeout;
    return new Promise<Response>((resolve, reject) => {
      const fail = (error: unknown) => reject(asFetchError(error, signal));
      const target = typeof url === 'string' ? url : url.href;
      request(target, {
        dispatcher,
        method: (init.method ?? 'GET') as Dispatcher.HttpMethod,
        headers: requestHeaders(init.headers),
        body: requestBody(init.body),
        signal,
        // The signal bounds the whole call: undici's own timers (300 s each) are not needed.
        headersTimeout: 0,
        bodyTimeout: 0,
      }).then((answer) => readAnswer(target, answer, limits.maxResponseBytes, resolve, fail), fail);
    });
  };
}

/**
 * Reads the body of an answer under the cap and resolves with it as a `Response`; `fail` gets
 * the first error (the body too large, the connection lost, the call aborted).
 */
function readAnswer(
  url: string,
  answer: Dispatcher.ResponseData,
  limit: number,
  resolve: (response: Response) => void,
  fail: (error: unknown) => void,
): void {
  const { statusCode, statusText, headers, body } = answer;
  const declared = Number(headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    // undici emits its abort as an 'error' on the body: heard here, not thrown at the process.
    body.on('error', () => undefined);
    body.destroy();
    fail(new ResponseTooLargeError(limit));
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  let failed = false;
  body.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size > limit) {
      failed = true;
      body.destroy();
      fail(new ResponseTooLargeError(limit));
      return;
    }
    chunks.push(chunk);
  });
  body.on('error', (error: unknown) => {
    if (failed) return;
    failed = true;
    fail(error);
  });
  body.on('end', () => {
    if (failed) return;
    const content = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size);
    if (statusCode < 200 || statusCode > 599) {
      // A status a `Response` cannot hold: no usable answer.
      fail(new RangeError(`status ${statusCode} is not an answer`));
      return;
    }
    const response = new BufferedResponse(
      url,
      statusCode,
      statusText,
      new Headers(responseHeaders(headers)),
      nullBodyStatus(statusCode) ? null : content,
    );
    resolve(response as unknown as Response);
  });
}

const utf8 = new TextDecoder();

/**
 * The answer of a call, its body already read and capped: what oauth4webapi and this library use
 * of a `Response` (status, headers, `json()`, `text()`, `clone()`, `body?.cancel()`), without
 * the web stream and the body machinery a `Response` sets up for each answer. oauth4webapi
 * recognises it as a Response by its `Symbol.toStringTag`; its `body`, when asked for, is a real
 * stream of the bytes.
 */
class BufferedResponse {
  readonly ok: boolean;
  readonly redirected = false;
  readonly type = 'basic';
  private used = false;
  private stream?: ReadableStream<Uint8Array>;

  constructor(
    readonly url: string,
    readonly status: number,
    readonly statusText: string,
    readonly headers: Headers,
    private readonly content: Buffer | null,
  ) {
    this.ok = status >= 200 && status < 300;
  }

  get [Symbol.toStringTag](): string {
    return 'Response';
  }

  get bodyUsed(): boolean {
    return this.used;
  }

  get body(): ReadableStream<Uint8Array> | null {
    if (this.content === null) return null;
    return (this.stream ??= new Blob([this.content]).stream());
  }

  async text(): Promise<string> {
    const bytes = this.take();
    return bytes ? utf8.decode(bytes) : '';
  }

  async json(): Promise<unknown> {
    return JSON.parse(await this.text()) as unknown;
  }

  async arrayBuffer(): Promise<ArrayBuffer> {
    const bytes = this.take();
    return bytes ? new Uint8Array(bytes).buffer : new ArrayBuffer(0);
  }

  async bytes(): Promise<Uint8Array> {
    return new Uint8Array(this.take() ?? new Uint8Array(0));
  }

  async blob(): Promise<Blob> {
    const bytes = this.take();
    return new Blob(bytes ? [bytes] : [], { type: this.headers.get('content-type') ?? '' });
  }

  clone(): BufferedResponse {
    if (this.used) throw new TypeError('Response.clone: Body has already been consumed.');
    return new BufferedResponse(
      this.url,
      this.status,
      this.statusText,
      new Headers(this.headers),
      this.content,
    );
  }

  private take(): Buffer | null {
    if (this.used) throw new TypeError('Body is unusable: Body has already been read');
    this.used = true;
    return this.content;
  }
}

/**
 * An error as `fetch` would have raised it: the abort reason (a `TimeoutError`, the caller's) as
 * is, the body cap as is, anything else as `TypeError('fetch failed')` with it as `cause`.
 */
function asFetchError(error: unknown, signal: AbortSignal): unknown {
  if (signal.aborted && (error === signal.reason || errorName(error) === 'AbortError')) {
    return signal.reason;
  }
  if (error instanceof ResponseTooLargeError) return error;
  return new TypeError('fetch failed', { cause: withProxyStatus(error) });
}

function errorName(error: unknown): unknown {
  return (error as { name?: unknown } | null)?.name;
}

/**
 * undici's errors for a proxy that did not open the tunnel — it answered the CONNECT with another
 * status than 200, or with bytes that are not HTTP — as one with the code `UND_ERR_PROXY_TUNNEL`
 * and what the proxy did as `proxyAnswer`: neither is an abort of the call, nor the ID service's.
 */
function withProxyStatus(error: unknown): unknown {
  const message = error instanceof Error ? error.message : '';
  const status = /^Proxy response \((\d{3})\) !== 200 when HTTP Tunneling/.exec(message);
  const notHttp =
    errorName(error) === 'HTTPParserError' && (error as { code?: unknown }).code === undefined;
  if (!status && !notHttp) return error;
  const proxyAnswer = status ? `HTTP ${status[1]}` : 'not an HTTP answer';
  return Object.assign(new Error(`the proxy did not open the tunnel: ${proxyAnswer}`), {
    code: 'UND_ERR_PROXY_TUNNEL',
    proxyAnswer,
  });
}

type UndiciHeaders = Record<string, string | string[] | undefined>;

function requestHeaders(headers: RequestInit['headers']): UndiciHeaders | undefined {
  if (headers === undefined) return undefined;
  if (headers instanceof Headers || Array.isArray(headers)) {
    const flat: Record<string, string> = {};
    for (const [name, value] of headers instanceof Headers ? headers : headers) {
      flat[name.toLowerCase()] = value;
    }
    return flat;
  }
  return headers as UndiciHeaders;
}

function requestBody(body: RequestInit['body']): string | Uint8Array | undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string' || body instanceof Uint8Array) return body;
  if (body instanceof URLSearchParams) return body.toString();
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  throw new TypeError('only string, URLSearchParams and byte bodies are sent to the ID service');
}

function responseHeaders(headers: UndiciHeaders): [string, string][] {
  const pairs: [string, string][] = [];
  for (const name in headers) {
    const value = headers[name];
    if (typeof value === 'string') {
      pairs.push([name, value]);
    } else if (value !== undefined) {
      for (const each of value) pairs.push([name, each]);
    }
  }
  return pairs;
}

/** The user's `fetch`, with the same limits: no redirects, the timeout, the body cap. */
function throughFetch(fetchImpl: FetchLike, limits: SafeFetchLimits): SafeFetch {
  return async function safeFetch(url: string | URL, init: RequestInit = {}): Promise<Response> {
    const timeout = AbortSignal.timeout(limits.timeoutMs);
    const signal = init.signal ? AbortSignal.any([init.signal, timeout]) : timeout;
    const response = await fetchImpl(url, { ...init, redirect: 'manual', signal });
    const body = await readCapped(response, limits.maxResponseBytes);
    return new Response(nullBodyStatus(response.status) ? null : body, {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  };
}

function nullBodyStatus(status: number): boolean {
  return status === 101 || status === 204 || status === 205 || status === 304;
}

async function readCapped(response: Response, limit: number): Promise<Uint8Array> {
  const declared = Number(response.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > limit) {
    await response.body?.cancel();
    throw new ResponseTooLargeError(limit);
  }
  if (!response.body) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    if (size > limit) {
      await response.body.cancel().catch(() => undefined);
      throw new ResponseTooLargeError(limit);
    }
    chunks.push(chunk);
  }
  const body = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return body;
}
