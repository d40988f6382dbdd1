import {
  ClientProxyFactory,
  MqttRecordBuilder,
  Transport,
  type MqttOptions,
} from '@nestjs/microservices';
import { ClientCredentialsRpcClient } from 'nest-oidc-client-credentials';
import { BROKERS } from '../utils/brokers.js';
import { answerOf, describeBrokerTransport } from './broker-suite.js';

/**
 * MQTT 5 (on the machine's Mosquitto): the token travels in the PUBLISH packet's user properties,
 * `authorization: Bearer …`. The microservice and its caller both speak MQTT 5
 * (`protocolVersion: 5`); an MQTT 3.1.1 packet has no properties, so such a caller puts the
 * token in the payload.
 */
const mqtt = (protocolVersion: 4 | 5): MqttOptions => ({
  transport: Transport.MQTT,
  options: { url: BROKERS.mqtt, protocolVersion },
});

describeBrokerTransport(
  {
    name: 'MQTT',
    transport: 'mqtt',
    server: () => mqtt(5),
    client: () => mqtt(5),
    payloadKeys: ['page'],
    metadata: {
      name: 'user properties',
      spellings: ['authorization', 'Authorization'],
      builder: 'MqttRecordBuilder',
      record: (name, value) =>
        new MqttRecordBuilder({ page: 1 })
          .setProperties({ userProperties: { [name]: value } })
          .build(),
    },
  },
  (run) => {
    describe('an MQTT 3.1.1 caller', () => {
      const client = ClientProxyFactory.create(mqtt(4));
      afterAll(() => client.close());

      it("has no user properties: the helper's token does not arrive (UNAUTHENTICATED)", async () => {
        const { idp, patterns, sentTokens } = run();
        const token = await idp.mintJwt({ sub: 'billing', aud: 'orders-api' });
        sentTokens.push(token);
        const fixed = { getToken: async () => token, invalidate: () => false };
        const rpc = new ClientCredentialsRpcClient(client, fixed, { transport: 'mqtt' });
        await expect(answerOf(rpc.send(patterns.whoami, { page: 1 }))).resolves.toMatchObject({
          code: 'UNAUTHENTICATED',
          message: 'Bearer token required',
        });
      });

      it('puts the token in the payload instead', async () => {
        const { idp, patterns, sentTokens } = run();
        const authorization = await idp.bearer({ sub: 'billing', aud: 'orders-api' });
        sentTokens.push(authorization.slice('Bearer '.length));
        await expect(
          answerOf(client.send(patterns.whoami, { page: 1, authorization })),
        ).resolves.toMatchObject({ clientId: 'billing', payloadKeys: ['page', 'authorization'] });
      });
    });
  },
);
