import { Injectable } from '@nestjs/common';
import { metrics } from '@opentelemetry/api';
import { OidcClientCredentialsEvents } from 'nest-oidc-client-credentials';

@Injectable()
export class OidcOpenTelemetryMetrics {
  constructor(events: OidcClientCredentialsEvents) {
    const meter = metrics.getMeter('nest-oidc-client-credentials');
    const acquisitions = meter.createCounter('oidc_cc.token.acquisitions', {
      description: 'Outbound token acquisitions',
    });
    const acquisitionDuration = meter.createHistogram('oidc_cc.token.acquisition.duration', {
      unit: 'ms',
    });
    const tokenCache = meter.createCounter('oidc_cc.token.cache');
    const circuit = meter.createCounter('oidc_cc.token.circuit.transitions');
    const verifications = meter.createCounter('oidc_cc.verifications');
    const verificationCache = meter.createCounter('oidc_cc.verification.cache');
    const jwksFetches = meter.createCounter('oidc_cc.jwks.fetches');
    const staleKeyUses = meter.createCounter('oidc_cc.jwks.stale_key_uses');

    events.on('token.fetched', ({ client, source, durationMs }) => {
      acquisitions.add(1, { client, outcome: 'fetched', source });
      acquisitionDuration.record(durationMs, { client });
    });
    events.on('token.renewed', ({ client, source, durationMs }) => {
      acquisitions.add(1, { client, outcome: 'renewed', source });
      acquisitionDuration.record(durationMs, { client });
    });
    events.on('token.failed', ({ client, code, renewal, durationMs }) => {
      acquisitions.add(1, { client, outcome: 'failed', code, renewal });
      acquisitionDuration.record(durationMs, { client });
    });
    events.on('token.cache.hit', ({ client }) => tokenCache.add(1, { client, result: 'hit' }));
    events.on('token.cache.miss', ({ client }) => tokenCache.add(1, { client, result: 'miss' }));
    events.on('token.circuit.opened', ({ client }) => circuit.add(1, { client, state: 'open' }));
    events.on('token.circuit.closed', ({ client }) => circuit.add(1, { client, state: 'closed' }));
    events.on('verification.succeeded', () => verifications.add(1, { outcome: 'accepted' }));
    events.on('verification.failed', ({ code, status }) =>
      verifications.add(1, { outcome: 'refused', code, status }),
    );
    events.on('verification.cache.hit', ({ result }) => verificationCache.add(1, { result }));
    events.on('verification.cache.miss', () => verificationCache.add(1, { result: 'miss' }));
    events.on('jwks.fetched', ({ reason }) => jwksFetches.add(1, { reason, outcome: 'ok' }));
    events.on('jwks.failed', ({ reason, code }) =>
      jwksFetches.add(1, { reason, outcome: 'failed', code }),
    );
    events.on('jwks.stale-keys-used', () => staleKeyUses.add(1));
  }
}
