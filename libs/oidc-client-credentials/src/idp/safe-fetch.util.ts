/** Limits applied to every call to the ID service. */
export interface SafeFetchLimits {
  timeoutMs: number;
  maxResponseBytes: number;
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
 * carry credentials elsewhere), aborts after the timeout, and buffers at most `maxResponseBytes`.
 * Usable as oauth4webapi's and jose's `customFetch`.
 */
export function createSafeFetch(limits: SafeFetchLimits) {
  return async function safeFetch(url: string | URL, init: RequestInit = {}): Promise<Response> {
    const timeout = AbortSignal.timeout(limits.timeoutMs);
    const signal = init.signal ? AbortSignal.any([init.signal, timeout]) : timeout;
    const response = await fetch(url, { ...init, redirect: 'manual', signal });
    const body = await readCapped(response, limits.maxResponseBytes);
    return new Response(nullBodyStatus(response.status) ? null : body, {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  };
}

export type SafeFetch = ReturnType<typeof createSafeFetch>;

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
