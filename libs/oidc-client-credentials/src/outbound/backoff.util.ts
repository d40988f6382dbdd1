// The backoff helpers serve discovery too, so they live with the ID service calls in idp/.
export {
  fullJitterDelayMs,
  MAX_RETRY_AFTER_SECONDS,
  parseRetryAfter,
  sleep,
} from '../idp/backoff.util.js';
