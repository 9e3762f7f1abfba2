// GraphiQL at / as a person uses it, in Debian's Chromium allowed to reach
// nothing but this machine: the page renders from the binary's own files,
// runs a query, signs in with its helper, runs a query and a subscription
// that need the token, keeps the session over a reload and signs out.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { launchBrowser, screenshot, skipBrowser } from './lib/browser.js';
import { liveSubscriptions, moreSubscriptionsThan, submitForm } from './lib/clients.js';
import { startServer } from './lib/server.js';

const PASSWORD = 'Passw0rd!e2e';

describe('GraphiQL at /', { skip: skipBrowser }, () => {
  let server;
  let browser;
  let page;
  const email = 'grace@example.test';

  before(async () => {
    server = await startServer();
    browser = await launchBrowser();
    page = await browser.newPage();
  });
  after(async () => {
    await browser?.close();
    await server?.cleanup();
  });

  async function graphql(query, variables, accessToken) {
    const res = await fetch(server.graphqlUrl, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...(accessToken && { Authorization: `Bearer ${accessToken}` }) },
      body: JSON.stringify({ query, variables }),
    });
    return res.json();
  }

  const result = () => page.locator('.result-window');
  const session = () => page.evaluate(() => JSON.parse(sessionStorage.getItem('jobsphere:graphiql:session')));
  const signedInAs = () => page.locator('#signed-in-as');

  const execute = () => page.getByRole('button', { name: 'Execute query (Ctrl-Enter)' });

  /** run clicks ▶ and waits for the response pane to show text. */
  async function run(text) {
    await execute().click();
    await result().filter({ hasText: text }).waitFor();
  }

  /**
   * load picks an operation from the page's examples (client/operations)
   * and waits until GraphiQL has taken it in: the tab is named after it.
   */
  async function load(name) {
    await page.locator('#examples:enabled').selectOption({ label: name });
    await page.getByRole('tab', { selected: true }).getByRole('button', { name, exact: true }).waitFor();
  }

  /** headers opens GraphiQL's Headers tab and returns what it shows. */
  async function headers() {
    await page.getByRole('button', { name: 'Headers', exact: true }).click();
    return page.locator('.graphiql-editor-tool .graphiql-editor:not(.hidden)').innerText();
  }

  it('reaches nothing but this machine', async () => {
    const elsewhere = 'http://cdn.example.com/graphiql.min.js';
    const tab = await browser.newPage();
    await assert.rejects(tab.goto(elsewhere));
    await tab.close();
    assert.deepEqual(browser.refused, [elsewhere]);
    browser.refused.length = 0;
  });

  it('renders from the binary alone and runs a query', async () => {
    await page.goto(`${server.url}/`);
    await page.locator('.graphiql-container').waitFor();
    assert.match(await page.title(), /GraphiQL/);
    // The default query needs no account.
    await run('"sandbox": true');
    // One that does, before signing in.
    await load('Me');
    await run('UNAUTHENTICATED');
    await screenshot(page, 'graphiql');
  });

  it('signs in with the helper and sends the access token', async () => {
    const made = await graphql(
      'mutation Register($input: RegisterInput!) { register(input: $input) { user { email } } }',
      { input: { email, password: PASSWORD, name: 'Grace GraphiQL', role: 'CUSTOMER' } },
    );
    assert.equal(made.data?.register.user.email, email, JSON.stringify(made));

    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill('not the password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('#status', { hasText: 'Invalid email or password' }).waitFor();

    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await signedInAs().filter({ hasText: email }).waitFor();
    assert.match(await headers(), /"Authorization": "Bearer ey/);
    await run(`"email": "${email}"`);
    await screenshot(page, 'graphiql-signed-in');

    // Subscriptions go over the websocket with the same header: a deposit
    // paid on the sandbox's Checkout page shows up in GraphiQL.
    const before = await liveSubscriptions(server);
    await load('OnWalletUpdated');
    await execute().click();
    await moreSubscriptionsThan(server, before);
    const deposit = await graphql(
      'mutation Deposit($input: DepositInput!) { deposit(input: $input) { checkoutUrl } }',
      { input: { amount: '50' } },
      (await session()).accessToken,
    );
    assert.ok(deposit.data?.deposit.checkoutUrl, JSON.stringify(deposit));
    assert.equal((await submitForm(deposit.data.deposit.checkoutUrl)).ok, true);
    await result().filter({ hasText: '"kind": "DEPOSIT_SUCCEEDED"' }).waitFor();
    await screenshot(page, 'graphiql-subscription');
    await page.getByRole('button', { name: 'Stop query (Ctrl-Enter)' }).click();
    await execute().waitFor();

    // A new tab starts with the header; a tab whose Headers say nothing
    // still sends the session's token.
    await page.getByRole('button', { name: 'New tab' }).click();
    assert.match(await headers(), /"Authorization": "Bearer ey/);
    await page.locator('.graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror').click();
    await page.keyboard.press('Control+A');
    await page.keyboard.press('Backspace');
    assert.doesNotMatch(await headers(), /Authorization/);
    await load('Me');
    await run(`"email": "${email}"`);

    // A reload keeps the session (sessionStorage) and the header.
    await page.reload();
    await signedInAs().filter({ hasText: email }).waitFor();
    assert.match(await headers(), /"Authorization": "Bearer ey/);
    await load('Me');
    await run(`"email": "${email}"`);
  });

  it('signs out: the header goes and the refresh token is revoked', async () => {
    const { refreshToken } = await session();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.locator('#status', { hasText: 'Signed out.' }).waitFor();
    assert.equal(await page.getByRole('button', { name: 'Sign in' }).isVisible(), true);
    assert.doesNotMatch(await headers(), /Authorization/);
    await run('UNAUTHENTICATED');
    const refreshed = await graphql(
      'mutation Refresh($t: String!) { refreshToken(refreshToken: $t) { tokens { accessToken } } }',
      { t: refreshToken },
    );
    assert.ok(refreshed.errors?.length, `the refresh token still works: ${JSON.stringify(refreshed)}`);
  });

  it('needed no other host and broke no rule of its page', () => {
    assert.deepEqual(browser.refused, [], 'requests for other hosts');
    assert.deepEqual(browser.errors, [], 'page errors, console errors and Content-Security-Policy violations');
  });
});
