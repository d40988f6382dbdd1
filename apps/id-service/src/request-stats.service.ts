import { Injectable } from '@nestjs/common';

/** The protocol endpoints whose calls are counted. */
export type IdServiceEndpoint = 'discovery' | 'jwks' | 'token' | 'introspection' | 'userinfo';

/** Calls per endpoint since start (or the last reset). */
export type IdServiceStats = Record<IdServiceEndpoint, number>;

/** Counts calls per endpoint, so a demo or a test can show how many calls the caches saved. */
@Injectable()
export class RequestStats {
  private counts: IdServiceStats = RequestStats.zero();

  static zero(): IdServiceStats {
    return { discovery: 0, jwks: 0, token: 0, introspection: 0, userinfo: 0 };
  }

  count(endpoint: IdServiceEndpoint): void {
    this.counts[endpoint] += 1;
  }

  snapshot(): IdServiceStats {
    return { ...this.counts };
  }

  reset(): void {
    this.counts = RequestStats.zero();
  }
}
