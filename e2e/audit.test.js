// graphql-http's audits of the GraphQL-over-HTTP spec against /graphql:
// every MUST passes; the SHOULDs that do not are the ones docs/api.md lists
// with their reasons, and no others.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { serverAudits } from 'graphql-http';

import { startServer } from './lib/server.js';

// docs/api.md, "GraphQL over HTTP": gqlgen answers a request it cannot
// parse, validate or coerce with 422 (not 200) under application/json,
// and with "data": null under application/graphql-response+json.
const KNOWN_WARNINGS = new Set(['572B', 'FDE2', '7B9B', 'D586', '5E5B']);

describe('GraphQL over HTTP (graphql-http serverAudits)', () => {
  let server;
  before(async () => { server = await startServer(); });
  after(async () => { await server?.cleanup(); });

  for (const audit of serverAudits({ url: () => server.graphqlUrl, fetchFn: fetch })) {
    it(`${audit.id} ${audit.name}`, async () => {
      const result = await audit.fn();
      if (result.status === 'ok') return;
      const why = `${result.reason} (HTTP ${result.response?.status})`;
      if (audit.name.startsWith('MUST')) assert.fail(why);
      if (result.status === 'warn') assert.ok(KNOWN_WARNINGS.has(audit.id), `a new SHOULD warning: ${why}; fix it or list it in docs/api.md, "GraphQL over HTTP"`);
    });
  }
});
