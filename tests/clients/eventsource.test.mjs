// A browser's EventSource (the npm `eventsource` package, the WhatWG API: no headers) signs in
// to the event stream with a stream ticket from the streamTicket mutation.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EventSource } from 'eventsource';
import { IDS, TOKENS, URL_HTTP, WATCH } from './env.mjs';

const MINT = 'mutation Ticket { streamTicket { ticket expiresAt } }';

async function mint(token = TOKENS.admin) {
  const response = await fetch(URL_HTTP, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: MINT }),
  });
  const body = await response.json();
  assert.equal(body.errors, undefined, JSON.stringify(body));
  return body.data.streamTicket.ticket;
}

function streamUrl(ticket) {
  const url = new URL(URL_HTTP);
  url.searchParams.set('query', WATCH);
  url.searchParams.set('variables', JSON.stringify({ id: IDS.openOffering }));
  if (ticket !== undefined) url.searchParams.set('ticket', ticket);
  return url;
}

/** The first `next` event's payload, or the error event (with its HTTP `code`). */
function outcome(source, ms = 30000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no event in time')), ms);
    source.addEventListener('next', (event) => {
      clearTimeout(timer);
      resolve({ next: JSON.parse(event.data) });
    });
    source.addEventListener('error', (event) => {
      clearTimeout(timer);
      resolve({ error: event, state: source.readyState });
    });
  });
}

test('EventSource opens a subscription with a stream ticket in the URL', async () => {
  const ticket = await mint();
  const source = new EventSource(streamUrl(ticket));
  try {
    const got = await outcome(source);
    assert.equal(got.error, undefined, `error ${got.error?.code}: ${got.error?.message}`);
    assert.equal(got.next.data.offeringUpdated.name, 'Acme Open');
  } finally {
    source.close();
  }
});

test('a spent ticket (EventSource reconnecting with its URL) is refused and EventSource stops', async () => {
  const ticket = await mint();
  const first = new EventSource(streamUrl(ticket));
  try {
    assert.ok((await outcome(first)).next);
  } finally {
    first.close();
  }
  const again = new EventSource(streamUrl(ticket));
  try {
    const got = await outcome(again);
    assert.equal(got.error?.code, 401);
    assert.equal(again.readyState, EventSource.CLOSED);  // no retry loop on a 401
  } finally {
    again.close();
  }
});

test('without a ticket, or with a forged one, EventSource gets 401', async () => {
  for (const ticket of [undefined, 'st1_' + 'A'.repeat(54)]) {
    const source = new EventSource(streamUrl(ticket));
    try {
      const got = await outcome(source);
      assert.equal(got.error?.code, 401, String(ticket));
    } finally {
      source.close();
    }
  }
});

test('a ticket is not a bearer token', async () => {
  const ticket = await mint();
  const response = await fetch(URL_HTTP, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${ticket}` },
    body: JSON.stringify({ query: '{ viewer { role } }' }),
  });
  assert.equal(response.status, 401);
  const body = await response.json();
  assert.equal(body.errors[0].extensions.code, 'UNAUTHENTICATED');
});
