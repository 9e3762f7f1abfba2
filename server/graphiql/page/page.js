// GraphiQL on this server's /graphql (subscriptions over its websocket),
// with a sign-in helper that puts the access token into GraphiQL's request
// headers, and client/operations' documents as examples. Plain JS on the
// UMD builds: nothing to build.
(function () {
  'use strict';

  // The session lives in sessionStorage: a reload keeps it, closing the tab
  // forgets it.
  const sessionKey = 'jobsphere:graphiql:session';
  let session = JSON.parse(sessionStorage.getItem(sessionKey) || 'null');

  const url = new URL('/graphql', location.href);
  const subscriptionUrl = new URL(url);
  subscriptionUrl.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  // GraphiQL sends the headers editor's JSON with each request, and in
  // connection_init on the websocket.
  const graphiqlFetcher = GraphiQL.createFetcher({ url: url.href, subscriptionUrl: subscriptionUrl.href });
  // Signing in writes the token into the open tab's headers and each new
  // tab's; a tab without an Authorization header of its own (one opened
  // before, or restored after a reload: GraphiQL keeps no headers) still
  // sends the session's.
  const fetcher = (params, options = {}) => {
    const headers = options.headers ?? {};
    const own = Object.keys(headers).some((name) => name.toLowerCase() === 'authorization');
    return graphiqlFetcher(params, session && !own
      ? { ...options, headers: { ...headers, Authorization: `Bearer ${session.accessToken}` } }
      : options);
  };
  const examplesUrl = document.currentScript.dataset.examples;

  const defaultQuery = `# The JobSphere API. Sign in above (or run the Register example to make an
# account first), load an example operation from the list, and run it with
# Ctrl-Enter or the ▶ button. The Docs panel on the left describes every type.

query GetStripeConfig {
  stripeConfig {
    currency
    sandbox
  }
}
`;

  // What the page puts into GraphiQL's editors. Undefined leaves an editor
  // to GraphiQL (and its storage); GraphiQL's edits flow back here, so that
  // signing in changes the headers as they are, not as they were.
  const editors = {
    query: undefined,
    headers: session ? withToken('', session.accessToken) : undefined,
  };
  const onEditQuery = (text) => { editors.query = text; };
  const onEditHeaders = (text) => { editors.headers = text; };

  const root = ReactDOM.createRoot(document.getElementById('graphiql'));
  function render() {
    root.render(React.createElement(GraphiQL, {
      fetcher,
      defaultQuery,
      query: editors.query,
      onEditQuery,
      headers: editors.headers,
      onEditHeaders,
      // New tabs start with the token too.
      defaultHeaders: session ? withToken('', session.accessToken) : undefined,
    }));
  }

  // withToken returns the headers JSON with Authorization set to the bearer
  // token, or without it when token is null; other headers are kept.
  function withToken(text, token) {
    let headers;
    try { headers = JSON.parse(text || '{}'); } catch { headers = {}; }
    if (headers === null || typeof headers !== 'object' || Array.isArray(headers)) headers = {};
    for (const name of Object.keys(headers)) {
      if (name.toLowerCase() === 'authorization') delete headers[name];
    }
    if (token) headers = { Authorization: `Bearer ${token}`, ...headers };
    return Object.keys(headers).length ? JSON.stringify(headers, null, 2) : '';
  }

  async function call(query, variables) {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ query, variables }),
    });
    const body = await res.json();
    if (body.errors?.length) throw new Error(body.errors[0].message);
    return body.data;
  }

  const form = document.getElementById('sign-in');
  const signedIn = document.getElementById('signed-in');
  const status = document.getElementById('status');

  function show() {
    form.hidden = Boolean(session);
    signedIn.hidden = !session;
    document.getElementById('signed-in-as').textContent = session ? `${session.email} (${session.role})` : '';
    render();
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const input = Object.fromEntries(new FormData(form));
    status.value = 'Signing in…';
    try {
      const { login } = await call(
        'mutation Login($input: LoginInput!) { login(input: $input) { user { email role } tokens { accessToken refreshToken } } }',
        { input },
      );
      session = { email: login.user.email, role: login.user.role, ...login.tokens };
      sessionStorage.setItem(sessionKey, JSON.stringify(session));
      form.reset();
      editors.headers = withToken(editors.headers, session.accessToken);
      status.value = 'Signed in: the Headers tab holds the access token.';
      show();
    } catch (err) {
      status.value = `Not signed in: ${err.message}`;
    }
  });

  document.getElementById('sign-out').addEventListener('click', async () => {
    const { refreshToken } = session;
    session = null;
    sessionStorage.removeItem(sessionKey);
    editors.headers = withToken(editors.headers, null);
    show();
    try {
      await call('mutation Logout($refreshToken: String!) { logout(refreshToken: $refreshToken) }', { refreshToken });
      status.value = 'Signed out.';
    } catch (err) {
      status.value = `Signed out here; the server said: ${err.message}`;
    }
  });

  const picker = document.getElementById('examples');
  let examples = [];
  fetch(examplesUrl).then((res) => res.json()).then((list) => {
    examples = list;
    const groups = new Map();
    list.forEach((example, i) => {
      if (!groups.has(example.file)) {
        const group = document.createElement('optgroup');
        group.label = example.file;
        picker.append(group);
        groups.set(example.file, group);
      }
      groups.get(example.file).append(new Option(example.name, String(i)));
    });
    picker.disabled = false;
  }, (err) => { status.value = `The examples did not load: ${err.message}`; });
  picker.addEventListener('change', () => {
    if (picker.value === '') return;
    editors.query = examples[Number(picker.value)].document;
    picker.value = '';
    render();
  });

  show();
})();
