import type { Logger } from '@nestjs/common';
import { OidcClientCredentialsError } from '../errors/oidc-client-credentials.error.js';

/** Shortest time between two log lines of one guard for the same cause (code and message). */
export const REFUSAL_LOG_INTERVAL_MS = 60_000;

/** Causes remembered per guard; past this, the oldest are forgotten first. */
const MAX_CAUSES = 100;

/** Anything shaped like a compact JWS or JWE, redacted from a logged message all the same. */
const JWT_LIKE = /(?<![\w-])eyJ[\w-]+(?:\.[\w-]*){1,4}/g;

interface CauseRecord {
  loggedAt: number;
  suppressed: number;
}

/** What each guard (by its logger) logged last, by cause. */
const causesByLogger = new WeakMap<Logger, Map<string, CauseRecord>>();

/**
 * The message of one of this library's errors, fit for a log line: printable ASCII, at most 500
 * characters, anything shaped like a JWT redacted. `undefined` for other errors, whose message
 * could quote the token.
 */
export function loggableMessage(error: unknown): string | undefined {
  if (!(error instanceof OidcClientCredentialsError)) return undefined;
  const printable = error.message.replace(/[^\x20-\x7e]/g, ' ').trim();
  const text = printable.length > 500 ? `${printable.slice(0, 500)}...` : printable;
  return text.replace(JWT_LIKE, '[redacted]') || undefined;
}

/**
 * Logs `line` at `level` unless `cause` was logged through `logger` less than
 * {@link REFUSAL_LOG_INTERVAL_MS} ago: a failing ID service then costs one line per cause and
 * interval, not one per request. The line logged after a quiet interval says how many were left
 * out.
 */
export function logOncePerInterval(
  logger: Logger,
  level: 'warn' | 'error',
  cause: string,
  line: string,
): void {
  let causes = causesByLogger.get(logger);
  if (!causes) {
    causes = new Map();
    causesByLogger.set(logger, causes);
  }
  const now = Date.now();
  const record = causes.get(cause);
  // A clock set back counts as a new interval.
  if (record && now >= record.loggedAt && now - record.loggedAt < REFUSAL_LOG_INTERVAL_MS) {
    record.suppressed += 1;
    return;
  }
  const suppressed = record?.suppressed ?? 0;
  const since = record ? Math.round((now - record.loggedAt) / 1000) : 0;
  causes.delete(cause);
  forgetOldCauses(causes, now);
  causes.set(cause, { loggedAt: now, suppressed: 0 });
  logger[level](
    suppressed > 0 ? `${line} (${suppressed} more since the last report ${since} s ago)` : line,
  );
}

function forgetOldCauses(causes: Map<string, CauseRecord>, now: number): void {
  if (causes.size < MAX_CAUSES) return;
  for (const [cause, record] of causes) {
    if (now - record.loggedAt >= REFUSAL_LOG_INTERVAL_MS) causes.delete(cause);
  }
  // Insertion order is logging order: the first is the oldest.
  while (causes.size >= MAX_CAUSES) causes.delete(causes.keys().next().value as string);
}
