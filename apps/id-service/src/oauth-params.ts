import type { Request, Response } from 'express';

/** An OAuth error answer (RFC 6749 §5.2). */
export interface OAuthErrorBody {
  error: string;
  error_description?: string;
}

/** Thrown by the parameter and client-authentication helpers; controllers turn it into an answer. */
export class OAuthError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly description: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(description);
  }

  /** Sends this error as RFC 6749 §5.2 JSON. */
  send(res: Response): void {
    res
      .status(this.status)
      .set({ 'Cache-Control': 'no-store', ...this.headers })
      .json({ error: this.error, error_description: this.description } satisfies OAuthErrorBody);
  }
}

/**
 * The form body of a request as single-valued parameters. A body that is not
 * `application/x-www-form-urlencoded` counts as empty; a repeated parameter is refused
 * (RFC 6749 §3.1: parameters MUST NOT be included more than once).
 */
export function formParams(req: Request): Record<string, string> {
  if (!req.is('application/x-www-form-urlencoded')) return {};
  return singleValued(req.body);
}

/** The URL query of a request as single-valued parameters (the seed's curl sends everything there). */
export function queryParams(req: Request): Record<string, string> {
  return singleValued(req.query);
}

function singleValued(source: unknown): Record<string, string> {
  const params: Record<string, string> = Object.create(null);
  if (typeof source !== 'object' || source === null) return params;
  for (const [name, value] of Object.entries(source)) {
    if (typeof value !== 'string') {
      throw new OAuthError(400, 'invalid_request', `parameter "${safe(name)}" must appear once`);
    }
    params[name] = value;
  }
  return params;
}

/** A parameter name or value fit for an error description: printable ASCII, short. */
export function safe(value: string): string {
  return value.replace(/[^\x20-\x21\x23-\x5b\x5d-\x7e]/g, '?').slice(0, 64);
}
