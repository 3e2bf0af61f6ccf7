// N graphql-ws clients (the npm package, its defaults) subscribed to the `events` feed; prints
// one JSON line per result and exits once every client has K. Run by
// tests/e2e/test_subscriptions_fanout.py, which emits the feed items: not a *.test.mjs.
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const [url, token, clients, items] = process.argv.slice(2);
const QUERY = `subscription Feed($filter: EventFilter) {
  events(filter: $filter) { cursor node { sequence eventName args } }
}`;

async function follow(n) {
  const ws = createClient({ url, webSocketImpl: WebSocket, retryAttempts: 0,
                            connectionParams: { authorization: `Bearer ${token}` } });
  try {
    let got = 0;
    for await (const result of ws.iterate({ query: QUERY })) {
      process.stdout.write(`${JSON.stringify({ client: n, result })}\n`);
      got += 1;
      if (got === Number(items)) return;
    }
    throw new Error(`client ${n} completed after ${got} results`);
  } finally {
    await ws.dispose();
  }
}

const timer = setTimeout(() => { console.error('timed out'); process.exit(2); }, 120000);
await Promise.all(Array.from({ length: Number(clients) }, (_, n) => follow(n)));
clearTimeout(timer);
