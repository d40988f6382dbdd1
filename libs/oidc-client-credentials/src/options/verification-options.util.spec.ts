import { TokenVerificationStrategy, type VerifiedToken } from 'nest-oidc-client-credentials';
import { ConfigurationError } from '../errors/configuration.error.js';
import type { VerificationOptions } from './oidc-client-credentials-options.interface.js';
import { resolveOptions } from './resolve-options.util.js';
import { missingAudienceWarning } from './verification-options.util.js';

class OwnStrategy extends TokenVerificationStrategy {
  async verify(): Promise<VerifiedToken> {
    return { clientId: 'x', scopes: [], claims: {} };
  }
}

const resolved = (verification: VerificationOptions | undefined) =>
  resolveOptions({ issuer: 'https://id.example.com', verification });

describe('missingAudienceWarning', () => {
  it.each<[string, VerificationOptions | undefined]>([
    ['no verification options (auto)', undefined],
    ['auto', { strategy: 'auto' }],
    ['jwt', { strategy: 'jwt' }],
    ['introspection', { strategy: 'introspection', allowedClientIds: ['billing'] }],
    ['warnOnMissingAudience true', { strategy: 'jwt', warnOnMissingAudience: true }],
  ])('warns without an audience: %s', (_case, verification) => {
    const warning = missingAudienceWarning(resolved(verification));
    expect(warning).toContain('verification.audience is not set');
    expect(warning).toContain('any of its APIs');
    expect(warning).toContain('verification.warnOnMissingAudience: false');
  });

  it.each<[string, VerificationOptions]>([
    ['an audience', { audience: 'urn:orders' }],
    ['a list of audiences', { strategy: 'jwt', audience: ['urn:orders', 'urn:billing'] }],
    ['the opt-out', { warnOnMissingAudience: false }],
    ['userinfo, which cannot check an audience', { strategy: 'userinfo' }],
    ["the application's own strategy class", { strategy: OwnStrategy }],
    ["the application's own strategy instance", { strategy: new OwnStrategy() }],
  ])('does not warn with %s', (_case, verification) => {
    expect(missingAudienceWarning(resolved(verification))).toBeUndefined();
  });

  it.each<[string, unknown]>([
    ['a string', 'false'],
    ['a number', 0],
    ['null', null],
  ])('verification.warnOnMissingAudience as %s is refused', (_case, value) => {
    expect(() => resolved({ warnOnMissingAudience: value as boolean })).toThrow(
      expect.objectContaining({ option: 'verification.warnOnMissingAudience' }),
    );
    expect(() => resolved({ warnOnMissingAudience: value as boolean })).toThrow(ConfigurationError);
  });
});
