import { randomBytes } from 'node:crypto';
import {
  MAX_MESSAGE_AGE_MS,
  messageKey,
  openMessage,
  SeenMessages,
  signMessage,
} from './signed-message.util.js';

const NOW = 1_800_000_000_000;
const KEY = messageKey(randomBytes(32));
const CHANNEL = 'oidc-cc:revocations';
const BODY = { kind: 'token', digest: 'abc', until: NOW + 60_000 };

describe('signed messages between instances', () => {
  it('a message opens once, with its body', () => {
    const seen = new SeenMessages();
    const message = signMessage(KEY, CHANNEL, BODY, NOW);
    expect(openMessage(KEY, CHANNEL, message, seen, NOW + 10)).toEqual(BODY);
    expect(openMessage(KEY, CHANNEL, message, seen, NOW + 20)).toBeUndefined();
  });

  it('the derived key is neither the secret nor the same for another secret', () => {
    const secret = randomBytes(32);
    expect(messageKey(secret).equals(secret)).toBe(false);
    expect(messageKey(secret).equals(messageKey(randomBytes(32)))).toBe(false);
    expect(messageKey(secret).equals(messageKey(secret))).toBe(true);
  });

  const altered = (message: string) => message.replace('"abc"', '"abd"');
  it.each([
    [
      'forged: another key',
      () => signMessage(messageKey(randomBytes(32)), CHANNEL, BODY, NOW),
      NOW,
    ],
    ['forged: unsigned', () => signMessage(KEY, CHANNEL, BODY, NOW).replace(/\.[^.]*$/, ''), NOW],
    ['forged: body altered', () => altered(signMessage(KEY, CHANNEL, BODY, NOW)), NOW],
    ['another channel', () => signMessage(KEY, 'other:revocations', BODY, NOW), NOW],
    ['too old', () => signMessage(KEY, CHANNEL, BODY, NOW), NOW + MAX_MESSAGE_AGE_MS + 1],
    ['from the future', () => signMessage(KEY, CHANNEL, BODY, NOW + MAX_MESSAGE_AGE_MS + 1), NOW],
    ['not JSON', () => 'hello.world', NOW],
  ])('%s: refused', (_case, make, now) => {
    expect(openMessage(KEY, CHANNEL, make(), new SeenMessages(), now)).toBeUndefined();
  });

  it('replayed after its id was forgotten is still too old to open', () => {
    const seen = new SeenMessages();
    const message = signMessage(KEY, CHANNEL, BODY, NOW);
    expect(openMessage(KEY, CHANNEL, message, seen, NOW)).toEqual(BODY);
    // Another message much later prunes the first id; the replay is refused by its age.
    openMessage(
      KEY,
      CHANNEL,
      signMessage(KEY, CHANNEL, BODY, NOW + 3 * MAX_MESSAGE_AGE_MS),
      seen,
      NOW + 3 * MAX_MESSAGE_AGE_MS,
    );
    expect(openMessage(KEY, CHANNEL, message, seen, NOW + 3 * MAX_MESSAGE_AGE_MS)).toBeUndefined();
  });
});
