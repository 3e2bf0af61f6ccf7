// graphql-sse ("distinct connections" mode, its default): queries, mutations and
// subscriptions, each a Server-Sent Events stream.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createClient } from 'graphql-sse';
import { IDS, OFFERINGS, PUBLIC_NAMES, TOKENS, TOUCH, URL_HTTP, WATCH, names } from './env.mjs';

function client(token) {
  return createClient({ url: URL_HTTP, retryAttempts: 0,
                        headers: token ? { Authorization: `Bearer ${token}` } : {} });
}

async function once(sse, payload) {
  for await (const result of sse.iterate(payload)) return result;
  throw new Error('completed without a result');
}

test('a query', async () => {
  const sse = client();
  try {
    const result = await once(sse, { query: OFFERINGS });
    assert.equal(result.errors, undefined, JSON.stringify(result.errors));
    assert.deepEqual(names(result.data), PUBLIC_NAMES);
  } finally {
    sse.dispose();
  }
});

test('a mutation', async () => {
  const sse = client(TOKENS.investor);
  try {
    const result = await once(sse, { query: TOUCH });
    assert.equal(result.errors, undefined, JSON.stringify(result.errors));
    assert.equal(result.data.updateProfile.fullName, 'Ada');
  } finally {
    sse.dispose();
  }
});

test('a subscription', async () => {
  const sse = client(TOKENS.admin);
  try {
    const result = await once(sse, { query: WATCH, variables: { id: IDS.openOffering } });
    assert.equal(result.data.offeringUpdated.name, 'Acme Open');
  } finally {
    sse.dispose();
  }
});

test('a subscription without signing in is refused with UNAUTHENTICATED', async () => {
  const sse = client();
  try {
    let caught;
    await assert.rejects(async () => {
      try { await once(sse, { query: WATCH, variables: { id: IDS.openOffering } }); }
      catch (error) { caught = error; throw error; }
    });
    assert.equal(caught.response?.status, 401, String(caught));
    const body = await caught.response.json();
    assert.equal(body.errors[0].extensions.code, 'UNAUTHENTICATED');
  } finally {
    sse.dispose();
  }
});
