import type { IncomingMessage } from 'node:http';
import { BearerRequestError } from '../../errors/bearer-request.error.js';
import { attachHandshake, wsBearerParts } from './ws.transport.js';

const BEARER = 'Bearer abc';

describe('wsBearerParts: the handshake of a WebSocket client', () => {
  it('reads a Socket.IO handshake: header, auth.token and URL', () => {
    const client = {
      handshake: { headers: { authorization: BEARER }, auth: { token: 'def' }, url: '/?a=1' },
    };
    expect(wsBearerParts(client)).toMatchObject({
      authorization: [BEARER, 'Bearer def'],
      url: '/?a=1',
    });
  });

  it("reads every Authorization line of a Socket.IO socket's request, which Node's headers drop", () => {
    const client = {
      handshake: { headers: { authorization: BEARER }, url: '/socket.io/?EIO=4' },
      request: {
        headers: { authorization: BEARER },
        rawHeaders: ['authorization', BEARER, 'Authorization', 'Bearer two'],
      },
    };
    expect(wsBearerParts(client)).toMatchObject({ authorization: [BEARER, 'Bearer two'] });
  });

  it('refuses a Socket.IO auth.token that is not a string', () => {
    expect(() => wsBearerParts({ handshake: { headers: {}, auth: { token: 1 } } })).toThrow(
      BearerRequestError,
    );
  });

  it('reads what attachHandshake kept of a ws upgrade request, every Authorization line', () => {
    const client = {};
    const request = {
      method: 'GET',
      url: '/orders?access_token=q',
      headers: { authorization: BEARER },
      rawHeaders: ['Authorization', BEARER, 'authorization', 'Bearer two', 'Host', 'x'],
    } as unknown as IncomingMessage;
    attachHandshake(client, request);
    expect(wsBearerParts(client)).toEqual({
      method: 'GET',
      authorization: [BEARER, 'Bearer two'],
      url: '/orders?access_token=q',
    });
    // The kept parts are not the request, and not enumerable on the client.
    expect(Object.keys(client)).toEqual([]);
  });

  it.each([[undefined], [{}], [{ handshake: 'x' }]])('none for %p', (client) => {
    expect(wsBearerParts(client)).toBeUndefined();
  });
});
