// The GraphQL-over-HTTP server audit of the graphql-http package against DPO_URL/graphql.
// Prints one JSON line per audit ({id, name, status, reason}); tests/e2e/test_http_audit.py
// decides which results are acceptable.
import { serverAudits } from 'graphql-http';

const url = `${process.env.DPO_URL}/graphql`;
for (const audit of serverAudits({ url })) {
  const result = await audit.fn();
  const line = { id: result.id, name: result.name, status: result.status };
  if (result.status !== 'ok') {
    line.reason = result.reason;
    line.response = { status: result.response.status,
                      contentType: result.response.headers.get('content-type'),
                      body: (await result.response.text()).slice(0, 300) };
  }
  console.log(JSON.stringify(line));
}
