// Apollo Client's relayStylePagination over our connections, forwards and backwards, and
// normalised Node objects found again through node(id).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApolloClient, HttpLink, InMemoryCache, gql } from '@apollo/client';
import { relayStylePagination } from '@apollo/client/utilities';
import { TOKENS, URL_HTTP } from './env.mjs';

const PAGE = gql`query Page($first: Int, $after: String, $last: Int, $before: String) {
  offerings(first: $first, after: $after, last: $last, before: $before, orderBy: {field: NAME}) {
    edges { cursor node { id name } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}`;

function client(token = TOKENS.admin) {
  return new ApolloClient({
    link: new HttpLink({ uri: URL_HTTP, headers: { authorization: `Bearer ${token}` } }),
    cache: new InMemoryCache({ typePolicies: { Query: { fields: {
      offerings: relayStylePagination(['filter', 'orderBy']) } } } }),
  });
}

const ids = (data) => data.offerings.edges.map((edge) => edge.node.id);

test('relayStylePagination pages forwards and backwards to the same offerings', async () => {
  const whole = ids((await client().query({ query: PAGE, variables: { first: 100 } })).data);
  assert.ok(whole.length >= 3, `only ${whole.length} offerings`);

  const forward = client();
  let { data } = await forward.query({ query: PAGE, variables: { first: 2 } });
  assert.equal(data.offerings.pageInfo.hasPreviousPage, false);
  while (data.offerings.pageInfo.hasNextPage) {
    ({ data } = await forward.query({ query: PAGE, fetchPolicy: 'network-only',
      variables: { first: 2, after: data.offerings.pageInfo.endCursor } }));
  }
  const merged = forward.readQuery({ query: PAGE, variables: { first: 2 } });
  assert.deepEqual(ids(merged), whole);

  const backward = client();
  ({ data } = await backward.query({ query: PAGE, variables: { last: 2 } }));
  assert.equal(data.offerings.pageInfo.hasNextPage, false);
  while (data.offerings.pageInfo.hasPreviousPage) {
    ({ data } = await backward.query({ query: PAGE, fetchPolicy: 'network-only',
      variables: { last: 2, before: data.offerings.pageInfo.startCursor } }));
  }
  assert.deepEqual(ids(backward.readQuery({ query: PAGE, variables: { last: 2 } })), whole);
});

test('a JobRun is a Node: node(id) returns the normalised object, and null to whom may not see it', async () => {
  const RUNS = gql`query Runs { jobRuns(first: 1) { id job status } }`;
  const NODE = gql`query Node($id: ID!) { node(id: $id) { id ... on JobRun { job status } } }`;
  const admin = client();
  const run = (await admin.query({ query: RUNS })).data.jobRuns[0];
  const { data } = await admin.query({ query: NODE, variables: { id: run.id } });
  assert.deepEqual({ ...data.node }, { __typename: 'JobRun', ...run });
  assert.ok(admin.cache.extract()[`JobRun:${run.id}`], 'JobRun normalised by its id');
  const hidden = await client(TOKENS.investor).query({ query: NODE, variables: { id: run.id } });
  assert.equal(hidden.data.node, null);
});
