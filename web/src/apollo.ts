// Apollo Client for the console: queries and mutations over HTTP to
// /graphql, subscriptions over graphql-ws on the same origin, the access
// token in the Authorization header and in connection_init. An
// UNAUTHENTICATED answer refreshes the token once and retries; a refreshed
// token restarts the websocket so that it carries the new one.
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, Observable, split } from '@apollo/client';
import { onError } from '@apollo/client/link/error';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { getMainDefinition } from '@apollo/client/utilities';
import { createClient } from 'graphql-ws';

import { fresh, getSession, onSessionChange, refresh } from './session';

/** resyncListeners hear when the websocket came back: events may have been missed. */
const resyncListeners = new Set<() => void>();
export function onResync(fn: () => void): () => void {
  resyncListeners.add(fn);
  return () => resyncListeners.delete(fn);
}

function createWebsocket() {
  let socket: WebSocket | null = null;
  let connections = 0;
  const client = createClient({
    url: `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql`,
    lazy: true,
    retryAttempts: Infinity,
    shouldRetry: () => true,
    connectionParams: async () => {
      const s = await fresh();
      return s ? { Authorization: `Bearer ${s.accessToken}` } : {};
    },
    on: {
      opened: (ws) => {
        socket = ws as WebSocket;
      },
      closed: () => {
        socket = null;
      },
      connected: () => {
        if (connections++ > 0) for (const fn of resyncListeners) fn();
      },
    },
  });
  // 4205: graphql-ws's "client restart", retried at once with the
  // connection params read anew.
  const restart = () => {
    if (socket?.readyState === WebSocket.OPEN) socket.close(4205, 'Client Restart');
  };
  return { client, restart };
}

export function createApolloClient(): ApolloClient<unknown> {
  const ws = createWebsocket();
  let token = getSession()?.accessToken;
  onSessionChange((s) => {
    if (s?.accessToken !== token) {
      token = s?.accessToken;
      ws.restart();
    }
  });

  const auth = new ApolloLink((operation, forward) => {
    const s = getSession();
    if (s) {
      operation.setContext(({ headers = {} }) => ({
        headers: { ...headers, Authorization: `Bearer ${s.accessToken}` },
      }));
    }
    return forward(operation);
  });

  const retryUnauthenticated = onError(({ graphQLErrors, operation, forward }) => {
    const expired = graphQLErrors?.some((e) => e.extensions?.code === 'UNAUTHENTICATED');
    if (!expired || !getSession() || operation.getContext().retried) return;
    return new Observable((observer) => {
      refresh().then(
        (s) => {
          if (!s) {
            observer.error(new Error('Your session ended: sign in again'));
            return;
          }
          operation.setContext({ retried: true });
          forward(operation).subscribe(observer);
        },
        (err) => observer.error(err),
      );
    });
  });

  const http = ApolloLink.from([retryUnauthenticated, auth, new HttpLink({ uri: '/graphql' })]);
  const link = split(
    ({ query }) => {
      const def = getMainDefinition(query);
      return def.kind === 'OperationDefinition' && def.operation === 'subscription';
    },
    new GraphQLWsLink(ws.client),
    http,
  );
  return new ApolloClient({
    link,
    cache: new InMemoryCache(),
    // A refetch on a queue event must ask anew: sharing the answer of an
    // identical request still in flight could show the queue as it was
    // before the change the event announced.
    queryDeduplication: false,
    defaultOptions: {
      // Money screens show what the server says now.
      watchQuery: { fetchPolicy: 'cache-and-network', errorPolicy: 'none' },
      query: { fetchPolicy: 'network-only', errorPolicy: 'none' },
      mutate: { errorPolicy: 'none' },
    },
  });
}
