// urql's core client with its defaults (cacheExchange + fetchExchange), and its fetch
// subscriptions (`fetchSubscriptions`, Server-Sent Events).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Client, cacheExchange, fetchExchange } from '@urql/core';
import { IDS, OFFERINGS, PUBLIC_NAMES, TOKENS, TOUCH, URL_HTTP, WATCH, first, names,
  recordingFetch } from './env.mjs';

function urql(token, options = {}) {
  const recorded = recordingFetch();
  const client = new Client({
    url: URL_HTTP, exchanges: [cacheExchange, fetchExchange], fetch: recorded.fetch,
    fetchOptions: token ? { headers: { authorization: `Bearer ${token}` } } : {}, ...options });
  return { client, recorded };
}

test('a query with the defaults gets JSON', async () => {
  const { client, recorded } = urql();
  const result = await client.query(OFFERINGS, {}, { requestPolicy: 'network-only' }).toPromise();
  assert.equal(result.error, undefined, String(result.error));
  assert.deepEqual(names(result.data), PUBLIC_NAMES);
  assert.match(recorded.seen[0].request.headers.get('accept'), /text\/event-stream/);
  assert.match(recorded.seen[0].headers.get('content-type'), /json/);
});

test('the same query twice is answered from the response cache', async () => {
  const { client, recorded } = urql();
  const query = 'query UrqlCached { offerings(first: 2) { edges { node { id } } } }';
  for (let i = 0; i < 3; i += 1) {
    const result = await client.query(query, {}, { requestPolicy: 'network-only' }).toPromise();
    assert.equal(result.error, undefined, String(result.error));
  }
  const outcomes = recorded.seen.map((r) => r.headers.get('x-cache'));
  assert.ok(outcomes.slice(1).includes('hit'), `x-cache: ${outcomes}`);
});

test('a mutation with the defaults', async () => {
  const { client } = urql(TOKENS.investor);
  const result = await client.mutation(TOUCH, {}).toPromise();
  assert.equal(result.error, undefined, String(result.error));
  assert.equal(result.data.updateProfile.fullName, 'Ada');
});

test('an expired token is a GraphQL error UNAUTHENTICATED', async () => {
  const { client } = urql(TOKENS.expired);
  const result = await client.query(OFFERINGS, {}, { requestPolicy: 'network-only' }).toPromise();
  assert.equal(result.error?.graphQLErrors?.[0]?.extensions?.code, 'UNAUTHENTICATED',
               String(result.error));
});

test('a subscription over fetch (fetchSubscriptions: Server-Sent Events)', async () => {
  const { client } = urql(TOKENS.admin, { fetchSubscriptions: true });
  const result = await first((sink) => {
    const { unsubscribe } = client.subscription(WATCH, { id: IDS.openOffering })
      .subscribe((value) => sink.next(value));
    return { unsubscribe };
  });
  assert.equal(result.error, undefined, String(result.error));
  assert.equal(result.data.offeringUpdated.name, 'Acme Open');
});
