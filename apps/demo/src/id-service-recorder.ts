import diagnosticsChannel from 'node:diagnostics_channel';
import { redactAuthorization, redactParam, redactParams, redactToken } from './output.js';

/** One call to the ID service as the trace shows it: every token and secret already redacted. */
export interface IdServiceExchange {
  method: string;
  /** Path and query of the URL, relative to the ID service. */
  target: string;
  /** `Basic demo-api:…(redacted)` or `Bearer eyJ…(redacted)`. */
  authorization?: string;
  /** The form body (`grant_type=client_credentials`, `token=eyJ…(redacted)`). */
  form?: string;
  /** HTTP status, or `undefined` when no answer came. */
  status?: number;
  /** The answer, shortened, with tokens redacted. */
  answer: string;
  /** The fields of a JSON answer other than a JWKS or discovery metadata, tokens redacted. */
  fields?: Readonly<Record<string, unknown>>;
}

/** Records the calls this process makes to the ID service, until {@link stop} is called. */
export interface IdServiceRecorder {
  /** The calls recorded since the last `take()`, in order; starts a new list. */
  take(): IdServiceExchange[];
  /** Stops listening. */
  stop(): void;
}

/** What undici publishes of a request on its diagnostics channels (the fields the demo reads). */
interface UndiciRequest {
  origin: string | URL;
  method: string;
  path: string;
  /** Flat list of names and values. */
  headers: string[];
}

/** A recorded call while it is under way: the bytes of each side, until that side ends. */
interface Pending {
  exchange: IdServiceExchange;
  contentType?: string;
  sent: Buffer[];
  received: Buffer[];
}

/**
 * Starts recording. The library calls the ID service through undici, which publishes each request
 * on Node's diagnostics channels (as OpenTelemetry's undici instrumentation reads them); the demo
 * listens there for as long as the trace runs. Only calls to `issuer`'s origin are recorded, each
 * reduced to what the trace shows (no token or secret is kept) as soon as its side ends.
 */
export function recordIdServiceCalls(issuer: string): IdServiceRecorder {
  const origin = new URL(issuer).origin;
  let recorded: IdServiceExchange[] = [];
  const pending = new WeakMap<object, Pending>();

  const listeners: Record<string, (message: unknown) => void> = {
    'undici:request:create': (message) => {
      const { request } = message as { request: UndiciRequest };
      if (new URL(String(request.origin)).origin !== origin) return;
      const url = new URL(request.path, origin);
      const header = (name: string) => headerOf(request.headers, name);
      const exchange: IdServiceExchange = {
        method: request.method,
        target: url.pathname + (url.search ? `?${redactParams(url.searchParams)}` : ''),
        authorization: redactAuthorization(header('authorization') ?? null),
        answer: '',
      };
      recorded.push(exchange);
      pending.set(request, {
        exchange,
        contentType: header('content-type'),
        sent: [],
        received: [],
      });
    },
    'undici:request:bodyChunkSent': (message) => {
      const { request, chunk } = message as { request: object; chunk: Uint8Array | string };
      pending.get(request)?.sent.push(Buffer.from(chunk));
    },
    'undici:request:bodySent': (message) => {
      const call = pending.get((message as { request: object }).request);
      if (call) call.exchange.form = formOf(call);
    },
    'undici:request:headers': (message) => {
      const { request, response } = message as {
        request: object;
        response: { statusCode: number };
      };
      const call = pending.get(request);
      if (call) call.exchange.status = response.statusCode;
    },
    'undici:request:bodyChunkReceived': (message) => {
      const { request, chunk } = message as { request: object; chunk: Uint8Array };
      pending.get(request)?.received.push(Buffer.from(chunk));
    },
    'undici:request:trailers': (message) => {
      const request = (message as { request: object }).request;
      const call = pending.get(request);
      if (!call) return;
      pending.delete(request);
      Object.assign(call.exchange, summarizeAnswer(Buffer.concat(call.received).toString('utf8')));
    },
    'undici:request:error': (message) => {
      const { request, error } = message as { request: object; error: unknown };
      const call = pending.get(request);
      if (!call) return;
      pending.delete(request);
      call.exchange.answer = `no answer (${error instanceof Error ? error.name : 'error'})`;
    },
  };
  for (const [name, listener] of Object.entries(listeners)) {
    diagnosticsChannel.subscribe(name, listener);
  }
  return {
    take() {
      const taken = recorded;
      recorded = [];
      return taken;
    },
    stop() {
      for (const [name, listener] of Object.entries(listeners)) {
        diagnosticsChannel.unsubscribe(name, listener);
      }
    },
  };
}

function headerOf(headers: string[], name: string): string | undefined {
  for (let i = 0; i + 1 < headers.length; i += 2) {
    if (headers[i].toLowerCase() === name) return headers[i + 1];
  }
  return undefined;
}

/** The body sent, as the trace shows it; the bytes are dropped. */
function formOf(call: Pending): string | undefined {
  const body = Buffer.concat(call.sent);
  call.sent = [];
  if (body.length === 0) return undefined;
  if (!call.contentType?.startsWith('application/x-www-form-urlencoded')) return '(a body)';
  return redactParams(new URLSearchParams(body.toString('utf8')));
}

const MAX_STRING = 60;
const MAX_FIELDS = 6;
/** The fields a long answer is shown by: the token's lifetime, what the 3rd party service checks. */
const KEY_FIELDS = [
  'access_token',
  'expires_in',
  'active',
  'sub',
  'client_id',
  'scope',
  'exp',
  'error',
  'error_description',
];
/** What may be a token in a field the demo does not know: a JWT, or a long b64token (RFC 6750 §2.1). */
const TOKEN_SHAPE = /^(?:[\w-]{4,}\.[\w-]{4,}\.[\w-]*|[\w\-.~+/]{32,}=*)$/;

/**
 * The answer as one short line: a JWKS by its keys' type, algorithm and id, discovery metadata by
 * its issuer and endpoints, anything else as JSON with tokens redacted and long values cut.
 */
export function summarizeAnswer(text: string): Pick<IdServiceExchange, 'answer' | 'fields'> {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return { answer: text.length === 0 ? '(empty)' : `(${text.length} bytes of text)` };
  }
  if (!isObject(body))
    return { answer: typeof body === 'string' ? shownString('', body) : String(body) };
  if (Array.isArray(body.keys)) {
    const keys = body.keys.filter(isObject).map(({ kty, alg, kid }) => ({
      kty,
      alg,
      kid: typeof kid === 'string' && kid.length > 8 ? `${kid.slice(0, 8)}…` : kid,
    }));
    return { answer: JSON.stringify({ keys }) };
  }
  if (typeof body.token_endpoint === 'string' || typeof body.jwks_uri === 'string') {
    const endpoints = Object.keys(body)
      .filter((name) => name.endsWith('_endpoint') || name === 'jwks_uri')
      .map((name) => name.replace(/_endpoint$|_uri$/, ''));
    return { answer: `discovery metadata: issuer ${String(body.issuer)}; ${endpoints.join(', ')}` };
  }
  const shown: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(body)) shown[name] = shownValue(name, value);
  const names = Object.keys(shown);
  if (names.length <= MAX_FIELDS) return { answer: JSON.stringify(shown), fields: shown };
  const kept = KEY_FIELDS.filter((name) => name in shown);
  const brief = Object.fromEntries(kept.map((name) => [name, shown[name]]));
  return {
    answer: `${JSON.stringify(brief)} (+${names.length - kept.length} more fields)`,
    fields: shown,
  };
}

/** A value of an answer, nested ones too, with its strings as {@link shownString} shows them. */
function shownValue(name: string, value: unknown): unknown {
  if (typeof value === 'string') return shownString(name, value);
  if (Array.isArray(value)) return value.map((item) => shownValue(name, item));
  if (isObject(value)) {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, shownValue(key, item)]),
    );
  }
  return value;
}

/** A string value of an answer: a token (by name or shape) redacted, anything long cut. */
function shownString(name: string, value: string): string {
  if (TOKEN_SHAPE.test(value)) return redactToken(value);
  const shown = redactParam(name, value);
  return shown.length > MAX_STRING ? `${shown.slice(0, MAX_STRING)}…` : shown;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
