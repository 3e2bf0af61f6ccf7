// Apollo Client 4 with its defaults: HttpLink for queries and mutations, GraphQLWsLink
// (graphql-ws) for subscriptions, an ErrorLink as a frontend team writes it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApolloClient, ApolloLink, CombinedGraphQLErrors, HttpLink, InMemoryCache, gql }
  from '@apollo/client';
import { ErrorLink } from '@apollo/client/link/error';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { IDS, OFFERINGS, PUBLIC_NAMES, TOKENS, TOUCH, URL_HTTP, URL_WS, WATCH, first, names,
  recordingFetch } from './env.mjs';

function apollo(link) {
  return new ApolloClient({ link, cache: new InMemoryCache() });
}

test('a query with the defaults: data, and the request carries extensions.clientLibrary', async () => {
  const recorded = recordingFetch();
  const client = apollo(new HttpLink({ uri: URL_HTTP, fetch: recorded.fetch }));
  const { data } = await client.query({ query: gql(OFFERINGS), fetchPolicy: 'network-only' });
  assert.deepEqual(names(data), PUBLIC_NAMES);
  const body = JSON.parse(recorded.seen[0].request.body);
  assert.equal(body.extensions.clientLibrary.name, '@apollo/client');
});

test('the default request is answered from the response cache the second time', async () => {
  const recorded = recordingFetch();
  const client = apollo(new HttpLink({ uri: URL_HTTP, fetch: recorded.fetch }));
  const query = gql`query Cached { offerings(first: 3) { edges { node { id name } } } }`;
  for (let i = 0; i < 3; i += 1) {
    await client.query({ query, fetchPolicy: 'network-only' });
  }
  const outcomes = recorded.seen.map((r) => r.headers.get('x-cache'));
  assert.ok(outcomes.slice(1).includes('hit'), `x-cache: ${outcomes}`);
});

test('an expired token reaches the error link as a GraphQL error UNAUTHENTICATED', async () => {
  const seen = [];
  const errors = new ErrorLink(({ error }) => {
    if (CombinedGraphQLErrors.is(error)) {
      for (const e of error.errors) seen.push(e.extensions?.code);
    } else {
      seen.push(`not a GraphQL error: ${error?.name}`);
    }
  });
  const http = new HttpLink({ uri: URL_HTTP,
                              headers: { authorization: `Bearer ${TOKENS.expired}` } });
  const client = apollo(ApolloLink.from([errors, http]));
  await assert.rejects(client.query({ query: gql(OFFERINGS), fetchPolicy: 'network-only' }));
  assert.deepEqual(seen, ['UNAUTHENTICATED']);
});

test('a mutation over HttpLink', async () => {
  const http = new HttpLink({ uri: URL_HTTP,
                              headers: { authorization: `Bearer ${TOKENS.investor}` } });
  const { data } = await apollo(http).mutate({ mutation: gql(TOUCH) });
  assert.equal(data.updateProfile.fullName, 'Ada');
});

test('a subscription over GraphQLWsLink', async () => {
  const ws = createClient({ url: URL_WS, webSocketImpl: WebSocket, retryAttempts: 0,
                            connectionParams: { authorization: `Bearer ${TOKENS.admin}` } });
  try {
    const client = apollo(new GraphQLWsLink(ws));
    const result = await first((sink) => client.subscribe({
      query: gql(WATCH), variables: { id: IDS.openOffering } }).subscribe(sink));
    assert.equal(result.data.offeringUpdated.name, 'Acme Open');
  } finally {
    await ws.dispose();
  }
});

test('a subscription over HttpLink (multipart) is a GraphQL error naming the transports', async () => {
  const http = new HttpLink({ uri: URL_HTTP,
                              headers: { authorization: `Bearer ${TOKENS.admin}` } });
  const client = apollo(http);
  const result = await first((sink) => client.subscribe({
    query: gql(WATCH), variables: { id: IDS.openOffering } }).subscribe(sink));
  assert.ok(CombinedGraphQLErrors.is(result.error), String(result.error));
  const [error] = result.error.errors;
  assert.equal(error.extensions.code, 'UNSUPPORTED_TRANSPORT');
  assert.match(error.message, /WebSocket/);
  assert.match(error.message, /text\/event-stream/);
});
