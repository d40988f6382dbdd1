import { Logger } from '@nestjs/common';
import type { TokenClientEvent } from './oidc-client-credentials-events.interface.js';
import { OidcClientCredentialsEvents } from './oidc-client-credentials-events.provider.js';

describe('OidcClientCredentialsEvents', () => {
  const hit: TokenClientEvent = { client: 'default' };

  beforeAll(() => Logger.overrideLogger(false));
  afterAll(() => Logger.overrideLogger(new Logger()));

  it('calls listeners in the order they were added, with the payload as given', () => {
    const events = new OidcClientCredentialsEvents();
    const seen: string[] = [];
    events.on('token.cache.hit', (payload) => seen.push(`a:${payload.client}`));
    events.on('token.cache.hit', (payload) => {
      expect(payload).toBe(hit);
      seen.push(`b:${payload.client}`);
    });
    events.emit('token.cache.hit', hit);
    events.emit('token.cache.miss', hit);
    expect(seen).toEqual(['a:default', 'b:default']);
  });

  it('reports whether an event is observed; removing the last listener makes it unobserved', () => {
    const events = new OidcClientCredentialsEvents();
    expect(events.observed('token.fetched')).toBe(false);
    const listener = () => undefined;
    const remove = events.on('token.fetched', listener);
    events.on('token.fetched', listener);
    expect(events.observed('token.fetched')).toBe(true);
    expect(events.listenerCount('token.fetched')).toBe(2);
    remove();
    expect(events.listenerCount('token.fetched')).toBe(0);
    expect(events.observed('token.fetched')).toBe(false);
  });

  it('a listener removed during an emit still gets that emit; one added during it does not', () => {
    const events = new OidcClientCredentialsEvents();
    const seen: string[] = [];
    const second = () => seen.push('second');
    events.on('token.cache.hit', () => {
      seen.push('first');
      events.off('token.cache.hit', second);
      events.on('token.cache.hit', () => seen.push('added'));
    });
    events.on('token.cache.hit', second);
    events.emit('token.cache.hit', hit);
    expect(seen).toEqual(['first', 'second']);
  });

  it('a throwing listener does not stop the others nor reach the emitter', () => {
    const events = new OidcClientCredentialsEvents();
    const seen: string[] = [];
    events.on('token.cache.hit', () => {
      throw new Error('bug');
    });
    events.on('token.cache.hit', () => seen.push('after'));
    expect(() => events.emit('token.cache.hit', hit)).not.toThrow();
    expect(seen).toEqual(['after']);
  });

  it.each([
    [
      'an unknown event',
      () => new OidcClientCredentialsEvents().on('nope' as 'token.fetched', () => undefined),
      'Unknown event "nope"',
    ],
    [
      'an inherited property name',
      () => new OidcClientCredentialsEvents().on('toString' as 'token.fetched', () => undefined),
      'Unknown event "toString"',
    ],
    [
      'a listener that is not a function',
      () => new OidcClientCredentialsEvents().on('token.fetched', 'x' as never),
      'The listener must be a function',
    ],
  ])('refuses %s', (_case, subscribe, message) => {
    expect(subscribe).toThrow(message);
  });
});
