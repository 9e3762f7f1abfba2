// The clients web apps use: Apollo Client with the upload link over HTTP
// and graphql-ws (GraphQLWsLink) over websocket, set up as docs/api.md's
// Apollo section says.
import { ApolloClient, ApolloLink, InMemoryCache, split } from '@apollo/client/core/index.js';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions/index.js';
import { getMainDefinition } from '@apollo/client/utilities/index.js';
import createUploadLink from 'apollo-upload-client/createUploadLink.mjs';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

/**
 * apolloClient signs requests with the token `session.accessToken` holds
 * at the time of each request, and sends it in connection_init on the
 * websocket.
 */
export function apolloClient(server, session = {}) {
  const auth = new ApolloLink((operation, forward) => {
    if (session.accessToken) {
      operation.setContext(({ headers = {} }) => ({
        headers: { ...headers, Authorization: `Bearer ${session.accessToken}` },
      }));
    }
    return forward(operation);
  });
  const http = auth.concat(createUploadLink({ uri: server.graphqlUrl }));
  const wsClient = createClient({
    url: server.wsUrl,
    webSocketImpl: WebSocket,
    lazy: true,
    connectionParams: () => (session.accessToken ? { Authorization: `Bearer ${session.accessToken}` } : {}),
  });
  const link = split(
    ({ query }) => {
      const def = getMainDefinition(query);
      return def.kind === 'OperationDefinition' && def.operation === 'subscription';
    },
    new GraphQLWsLink(wsClient),
    http,
  );
  const client = new ApolloClient({
    link,
    cache: new InMemoryCache(),
    // Money screens always want the server's answer.
    defaultOptions: {
      query: { fetchPolicy: 'no-cache', errorPolicy: 'none' },
      mutate: { fetchPolicy: 'no-cache', errorPolicy: 'none' },
    },
  });
  client.closeWebsocket = () => wsClient.dispose();
  return client;
}

/** liveSubscriptions reads the server's count of live subscriptions from /metrics. */
export async function liveSubscriptions(server) {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const m = text.match(/^jobsphere_graphql_subscriptions (\d+)/m);
  if (!m) throw new Error('no jobsphere_graphql_subscriptions in /metrics');
  return Number(m[1]);
}

/**
 * moreSubscriptionsThan resolves once the server counts more live
 * subscriptions than before, and fails after 10 s or as soon as failed()
 * returns an error.
 */
export async function moreSubscriptionsThan(server, before, failed = () => undefined) {
  for (const deadline = Date.now() + 10_000; (await liveSubscriptions(server)) <= before;) {
    const err = failed();
    if (err) throw err;
    if (Date.now() > deadline) throw new Error('the subscription did not become live within 10 s');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * events starts a subscription and resolves once the server has it live
 * (graphql-ws has no acknowledgement for a subscribe, so it watches the
 * server's metrics); events pushed from then on are kept. next() waits for
 * the next value that satisfies match (or fails after a timeout).
 */
export async function events(server, client, query, variables = {}) {
  const before = await liveSubscriptions(server);
  const seen = [];
  const waiting = [];
  let failure;
  const sub = client.subscribe({ query, variables }).subscribe({
    next(result) {
      seen.push(result.data);
      for (const w of [...waiting]) {
        const i = seen.findIndex(w.match);
        if (i >= 0) {
          waiting.splice(waiting.indexOf(w), 1);
          w.ok(seen.splice(i, 1)[0]);
        }
      }
    },
    error(err) {
      failure = err;
      for (const w of waiting.splice(0)) w.fail(err);
    },
  });
  await moreSubscriptionsThan(server, before, () => failure);
  return {
    next(match = () => true, timeoutMs = 10_000) {
      if (failure) return Promise.reject(failure);
      const i = seen.findIndex(match);
      if (i >= 0) return Promise.resolve(seen.splice(i, 1)[0]);
      return new Promise((ok, fail) => {
        const w = { match, ok, fail };
        waiting.push(w);
        setTimeout(() => {
          if (waiting.includes(w)) {
            waiting.splice(waiting.indexOf(w), 1);
            fail(new Error(`no matching subscription event within ${timeoutMs} ms; seen: ${JSON.stringify(seen)}`));
          }
        }, timeoutMs).unref();
      });
    },
    close: () => sub.unsubscribe(),
  };
}

/**
 * submitForm does what a browser does on a sandbox page: reads the form
 * (action and fields) from the page's HTML and posts it, with the clicked
 * button's name=value. It follows redirects and returns the final response.
 */
export async function submitForm(pageUrl, { button, fields = {} } = {}) {
  const page = await fetch(pageUrl);
  const html = await page.text();
  if (!page.ok) throw new Error(`GET ${pageUrl}: ${page.status}\n${html}`);
  const forms = [...html.matchAll(/<form[^>]*action="([^"]+)"[^>]*>([\s\S]*?)<\/form>/g)];
  const form = forms.find(([, , body]) => !button || body.includes(`value="${button.value}"`));
  if (!form) throw new Error(`no form on ${pageUrl}:\n${html}`);
  const [, action, body] = form;
  const data = new URLSearchParams();
  for (const [, name, value] of body.matchAll(/<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"/g)) data.set(name, value);
  for (const [name, value] of Object.entries(fields)) data.set(name, value);
  if (button) data.set(button.name, button.value);
  return fetch(new URL(action, pageUrl), { method: 'POST', body: data });
}
