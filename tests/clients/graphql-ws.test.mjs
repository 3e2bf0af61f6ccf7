// graphql-ws (graphql-transport-ws): sign-in shapes of connection_init, queries, mutations and
// subscriptions over one socket.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { IDS, OFFERINGS, PUBLIC_NAMES, TOKENS, TOUCH, URL_WS, WATCH, names } from './env.mjs';

function client(connectionParams, closed) {
  return createClient({ url: URL_WS, webSocketImpl: WebSocket, retryAttempts: 0, lazy: true,
                        connectionParams, on: { closed: (event) => closed?.(event) } });
}

async function once(ws, payload) {
  for await (const result of ws.iterate(payload)) return result;
  throw new Error('completed without a result');
}

const bearer = (token) => `Bearer ${token}`;
const SHAPES = {
  authorization: () => ({ authorization: bearer(TOKENS.admin) }),
  Authorization: () => ({ Authorization: bearer(TOKENS.admin) }),
  token: () => ({ token: TOKENS.admin }),
  authToken: () => ({ authToken: TOKENS.admin }),
  'headers.Authorization': () => ({ headers: { Authorization: bearer(TOKENS.admin) } }),
  'headers.authorization': () => ({ headers: { authorization: bearer(TOKENS.admin) } }),
};

for (const [shape, params] of Object.entries(SHAPES)) {
  test(`connection_init with ${shape} signs in`, async () => {
    const ws = client(params());
    try {
      const result = await once(ws, { query: WATCH, variables: { id: IDS.openOffering } });
      assert.equal(result.data.offeringUpdated.name, 'Acme Open');
    } finally {
      await ws.dispose();
    }
  });
}

test('connection_init without a token is closed with a reason saying what to send', async () => {
  let event;
  const ws = client({ jwt: TOKENS.admin }, (e) => { event = e; });
  try {
    await assert.rejects(once(ws, { query: OFFERINGS }));
    assert.equal(event.code, 4403);
    assert.match(event.reason, /authorization/i);
    assert.match(event.reason, /Bearer/);
  } finally {
    await ws.dispose();
  }
});

test('queries and mutations over the socket', async () => {
  const ws = client({ authorization: bearer(TOKENS.investor) });
  try {
    const seen = names((await once(ws, { query: OFFERINGS })).data);
    for (const name of PUBLIC_NAMES) assert.ok(seen.includes(name), seen);
    assert.equal((await once(ws, { query: TOUCH })).data.updateProfile.fullName, 'Ada');
  } finally {
    await ws.dispose();
  }
});
