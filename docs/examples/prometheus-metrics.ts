import { Injectable } from '@nestjs/common';
import { Counter, Histogram } from 'prom-client';
import { OidcClientCredentialsEvents } from 'nest-oidc-client-credentials';

const tokens = new Counter({
  name: 'oidc_cc_token_acquisitions_total',
  help: 'Outbound token acquisitions by client and outcome',
  labelNames: ['client', 'outcome', 'code'] as const,
});
const tokenDuration = new Histogram({
  name: 'oidc_cc_token_acquisition_seconds',
  help: 'Duration of outbound token acquisitions, retries included',
  labelNames: ['client'] as const,
  buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15],
});
const tokenCache = new Counter({
  name: 'oidc_cc_token_cache_total',
  help: 'getToken() answered from the in-process cache (hit) or not (miss)',
  labelNames: ['client', 'result'] as const,
});
const circuitOpen = new Counter({
  name: 'oidc_cc_token_circuit_opened_total',
  help: 'Times the token endpoint circuit opened',
  labelNames: ['client'] as const,
});
const verifications = new Counter({
  name: 'oidc_cc_verifications_total',
  help: 'Inbound requests accepted or refused by the guard, by error code',
  labelNames: ['outcome', 'code', 'status'] as const,
});
const verificationCache = new Counter({
  name: 'oidc_cc_verification_cache_total',
  help: 'Verification results from the in-process cache',
  labelNames: ['result'] as const,
});
const jwks = new Counter({
  name: 'oidc_cc_jwks_fetches_total',
  help: 'JWKS fetches by reason and outcome',
  labelNames: ['reason', 'outcome'] as const,
});
const staleKeys = new Counter({
  name: 'oidc_cc_jwks_stale_key_uses_total',
  help: 'Tokens verified with the last known keys while the JWKS endpoint fails',
});

@Injectable()
export class OidcPrometheusMetrics {
  constructor(events: OidcClientCredentialsEvents) {
    for (const event of ['token.fetched', 'token.renewed'] as const) {
      events.on(event, ({ client, durationMs }) => {
        tokens.inc({
          client,
          outcome: event === 'token.fetched' ? 'fetched' : 'renewed',
          code: '',
        });
        tokenDuration.observe({ client }, durationMs / 1000);
      });
    }
    events.on('token.failed', ({ client, code, durationMs }) => {
      tokens.inc({ client, outcome: 'failed', code });
      tokenDuration.observe({ client }, durationMs / 1000);
    });
    events.on('token.cache.hit', ({ client }) => tokenCache.inc({ client, result: 'hit' }));
    events.on('token.cache.miss', ({ client }) => tokenCache.inc({ client, result: 'miss' }));
    events.on('token.circuit.opened', ({ client }) => circuitOpen.inc({ client }));
    events.on('verification.succeeded', () =>
      verifications.inc({ outcome: 'accepted', code: '', status: '200' }),
    );
    events.on('verification.failed', ({ code, status }) =>
      verifications.inc({ outcome: 'refused', code, status: String(status) }),
    );
    events.on('verification.cache.hit', ({ result }) => verificationCache.inc({ result }));
    events.on('verification.cache.miss', () => verificationCache.inc({ result: 'miss' }));
    events.on('jwks.fetched', ({ reason }) => jwks.inc({ reason, outcome: 'ok' }));
    events.on('jwks.failed', ({ reason }) => jwks.inc({ reason, outcome: 'failed' }));
    events.on('jwks.stale-keys-used', () => staleKeys.inc());
  }
}
