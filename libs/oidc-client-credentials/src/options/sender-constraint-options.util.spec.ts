import { describe, expect, it } from '@jest/globals';
import type { OidcClientCredentialsModuleOptions } from './oidc-client-credentials-options.interface.js';
import { resolveSenderConstraint } from './sender-constraint-options.util.js';

const ISSUER = 'https://id.example.com';
const resolve = (options: Partial<OidcClientCredentialsModuleOptions>) =>
  resolveSenderConstraint({ issuer: ISSUER, ...options } as OidcClientCredentialsModuleOptions);

describe('resolveSenderConstraint', () => {
  it('applies the documented defaults', () => {
    expect(resolve({})).toEqual({
      dpop: 'allowed',
      dpopAlgorithms: ['ES256', 'ES384', 'ES512', 'PS256', 'RS256', 'EdDSA', 'Ed25519'],
      dpopProofMaxAgeSeconds: 60,
      dpopNonce: false,
      trustForwardedHeaders: false,
      mtls: 'allowed',
      clientCertificateHeader: undefined,
    });
  });

  it.each<[string, Partial<OidcClientCredentialsModuleOptions>, string]>([
    ['dpop unknown', { verification: { dpop: 'on' as 'required' } }, 'verification.dpop'],
    ['mtls unknown', { verification: { mtls: 'yes' as 'required' } }, 'verification.mtls'],
    [
      'dpopAlgorithms with HS256',
      { verification: { dpopAlgorithms: ['HS256'] } },
      'verification.dpopAlgorithms',
    ],
    [
      'dpopAlgorithms with none',
      { verification: { dpopAlgorithms: ['none'] } },
      'verification.dpopAlgorithms',
    ],
    [
      'dpopAlgorithms empty',
      { verification: { dpopAlgorithms: [] } },
      'verification.dpopAlgorithms',
    ],
    [
      'dpopProofMaxAgeSeconds 0',
      { verification: { dpopProofMaxAgeSeconds: 0 } },
      'verification.dpopProofMaxAgeSeconds',
    ],
    [
      'dpopProofMaxAgeSeconds over 600',
      { verification: { dpopProofMaxAgeSeconds: 601 } },
      'verification.dpopProofMaxAgeSeconds',
    ],
    [
      'dpopNonce not a boolean',
      { verification: { dpopNonce: 'yes' as unknown as boolean } },
      'verification.dpopNonce',
    ],
    [
      'dpopNonce with shared stores and no encryption key',
      { verification: { dpopNonce: true }, cache: { stores: [{} as never] } },
      'verification.dpopNonce',
    ],
    [
      'clientCertificateHeader another header',
      { verification: { clientCertificateHeader: 'x-ssl-cert' as 'client-cert' } },
      'verification.clientCertificateHeader',
    ],
    [
      'trustForwardedHeaders not a boolean',
      { verification: { trustForwardedHeaders: 1 as unknown as boolean } },
      'verification.trustForwardedHeaders',
    ],
  ])('refuses %s at startup, naming the option', (_name, options, option) => {
    expect(() => resolve(options)).toThrow(expect.objectContaining({ option }));
  });
});
