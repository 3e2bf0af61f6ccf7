// What tests/e2e/test_clients.py hands every client test: the server, tokens, seeded ids.
export const BASE = process.env.DPO_URL;
export const URL_HTTP = `${BASE}/graphql`;
export const URL_WS = URL_HTTP.replace(/^http/, 'ws');
export const TOKENS = JSON.parse(process.env.DPO_TOKENS ?? '{}');
export const IDS = JSON.parse(process.env.DPO_IDS ?? '{}');

if (!BASE) throw new Error('DPO_URL is not set: run these through tests/e2e/test_clients.py');

export const OFFERINGS = `query Offerings { offerings(first: 5) { edges { node { id name } } } }`;
export const WATCH = `subscription Watch($id: ID!) { offeringUpdated(id: $id) { id name status } }`;
export const TOUCH = `mutation Touch { updateProfile(input: {fullName: "Ada"}) { id fullName } }`;
export const PUBLIC_NAMES = ['Acme Open', 'Bolt Open'];

export const names = (data) => data.offerings.edges.map((e) => e.node.name).sort();

/** A fetch that records each answer's status and headers, the request left as the client made it. */
export function recordingFetch() {
  const seen = [];
  const wrapped = async (input, init) => {
    const response = await fetch(input, init);
    seen.push({ status: response.status, headers: response.headers,
                request: { headers: new Headers(init?.headers ?? {}), body: init?.body } });
    return response;
  };
  return { fetch: wrapped, seen };
}

/** Resolve with the first value of an observable-like `subscribe`, then unsubscribe. */
export function first(subscribeFn, ms = 30000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no value in time')), ms);
    let sub;
    sub = subscribeFn({
      next: (value) => { clearTimeout(timer); resolve(value); queueMicrotask(() => sub?.unsubscribe?.()); },
      error: (err) => { clearTimeout(timer); reject(err); },
      complete: () => {},
    });
  });
}
