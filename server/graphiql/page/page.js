// GraphiQL against this server's /graphql: queries and mutations over
// HTTP, subscriptions over its websocket.
(function () {
  'use strict';

  const url = new URL('/graphql', location.href);
  const subscriptionUrl = new URL(url);
  subscriptionUrl.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const fetcher = GraphiQL.createFetcher({ url: url.href, subscriptionUrl: subscriptionUrl.href });

  ReactDOM.createRoot(document.getElementById('graphiql')).render(
    React.createElement(GraphiQL, { fetcher }),
  );
})();
