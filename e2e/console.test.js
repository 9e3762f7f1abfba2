// The operator console (/admin) in Debian's Chromium against the real
// binary: an admin signs in; a release and a withdrawal made through the
// API while the console is open appear in their queues without a reload
// and are approved; a dispute is settled with a split after its preview
// and the parties' wallets show the new amounts; a wallet is frozen and
// unfrozen; a non-admin is refused. Every page is screenshotted into
// e2e/artifacts/ at 1280 and 390 px wide.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { gql } from '@apollo/client/core/index.js';

import { apolloClient, submitForm } from './lib/clients.js';
import { launchBrowser, screenshot, skipBrowser as skip } from './lib/browser.js';
import { startServer } from './lib/server.js';

const PASSWORD = 'Passw0rd!console';
const ADMIN_EMAIL = 'admin@console.test';

const REGISTER = gql`
  mutation Register($input: RegisterInput!) { register(input: $input) { user { id } tokens { accessToken } } }
`;
const DEPOSIT = gql`mutation Deposit($input: DepositInput!) { deposit(input: $input) { checkoutUrl } }`;
const CREATE_CONNECT = gql`mutation CreateConnectAccount { createConnectAccount { onboardingUrl } }`;
const CREATE_JOB = gql`mutation CreateJob($input: CreateJobInput!) { createJob(input: $input) { id } }`;
const APPLY = gql`mutation ApplyToJob($input: ApplyToJobInput!) { applyToJob(input: $input) { id } }`;
const SEND_OFFER = gql`mutation SendOffer($input: SendOfferInput!) { sendOffer(input: $input) { offer { id } } }`;
const ACCEPT_OFFER = gql`mutation AcceptOffer($offerId: ID!) { acceptOffer(offerId: $offerId) { contract { id } } }`;
const START_JOB = gql`mutation StartJob($id: ID!) { updateJobStatus(id: $id, status: IN_PROGRESS) { status } }`;
const COMPLETE_JOB = gql`mutation CompleteJob($jobId: ID!) { completeJob(jobId: $jobId) { awaitingApproval } }`;
const WITHDRAW = gql`mutation Withdraw($amount: Decimal!) { withdraw(amount: $amount) { withdrawal { id status } } }`;
const WITHDRAWAL = gql`query Withdrawal($id: ID!) { withdrawal(id: $id) { status } }`;
const CONTRACT = gql`query Contract($id: ID!) { node(id: $id) { ... on Contract { escrow { status } } } }`;
const WALLET = gql`query Wallet { wallet { balance isFrozen } }`;
const UPLOAD = gql`mutation UploadMedia($file: Upload!) { uploadMedia(file: $file) { id } }`;
const OPEN_DISPUTE = gql`mutation OpenDispute($input: OpenDisputeInput!) { openDispute(input: $input) { id } }`;
const ADD_MESSAGE = gql`mutation AddDisputeMessage($input: DisputeMessageInput!) { addDisputeMessage(input: $input) { id } }`;
const PROPOSE = gql`mutation ProposeSettlement($input: ProposeSettlementInput!) { proposeSettlement(input: $input) { id } }`;

// A 1×1 PNG, attached to a dispute message.
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==',
  'base64',
);

/** cents is a Decimal string as an exact integer of cents ("12.30" → 1230n). */
const cents = (decimal) => BigInt(decimal.replace('.', ''));
/** shown is how the console writes an amount of cents: "$1,234.50". */
const shown = (c) => `$${(c / 100n).toLocaleString('en-US')}.${String(c % 100n).padStart(2, '0')}`;

describe('the operator console in Chromium', { skip }, () => {
  let server;
  let browser;
  let page;
  const customer = { session: {} };
  const contractor = { session: {} };

  async function signUp(who, role, email) {
    who.email = email;
    who.client = apolloClient(server, who.session);
    const { data } = await who.client.mutate({
      mutation: REGISTER,
      variables: { input: { email, password: PASSWORD, name: `Console ${role.toLowerCase()}`, role } },
    });
    who.id = data.register.user.id;
    who.session.accessToken = data.register.tokens.accessToken;
  }
  const balance = async (who) => (await who.client.query({ query: WALLET })).data.wallet;

  /** contract: a new job of the customer's, hired at amount, under way. */
  async function contract(title, amount) {
    const job = await customer.client.mutate({
      mutation: CREATE_JOB,
      variables: { input: { title, description: `${title}, for the console test.`, budget: amount } },
    });
    const jobId = job.data.createJob.id;
    const applied = await contractor.client.mutate({ mutation: APPLY, variables: { input: { jobId } } });
    const sent = await customer.client.mutate({
      mutation: SEND_OFFER,
      variables: { input: { applicationId: applied.data.applyToJob.id, amount, timeline: '3 days', description: `${title}, as agreed.` } },
    });
    const accepted = await contractor.client.mutate({ mutation: ACCEPT_OFFER, variables: { offerId: sent.data.sendOffer.offer.id } });
    await contractor.client.mutate({ mutation: START_JOB, variables: { id: jobId } });
    return { jobId, contractId: accepted.data.acceptOffer.contract.id };
  }

  /** shoot saves the page at both widths the console is made for. */
  async function shoot(name) {
    // Every list of the page fits the API's limits (a page size too big
    // for GRAPHQL_MAX_COMPLEXITY would show the server's refusal instead).
    await page.getByRole('status').filter({ hasText: /^Loading/ }).first().waitFor({ state: 'detached' });
    assert.equal(await page.getByText('exceeds the limit').count(), 0, `${name}: a query was refused`);
    for (const width of [1280, 390]) {
      await page.setViewportSize({ width, height: 900 });
      await screenshot(page, `console-${name}-${width}`);
    }
    await page.setViewportSize({ width: 1280, height: 900 });
  }

  /** go follows the console's own navigation (no page load) to a page, marking the document to prove it stays. */
  async function go(link, heading) {
    await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: link, exact: true }).click();
    await page.getByRole('heading', { level: 1, name: heading }).waitFor();
  }
  const markDocument = () => page.evaluate(() => { window.consoleTestMark = 'still the same document'; });
  const sameDocument = async () => assert.equal(await page.evaluate(() => window.consoleTestMark), 'still the same document', 'the page was reloaded');

  before(async () => {
    server = await startServer({ REQUIRE_RELEASE_APPROVAL: 'true', REQUIRE_WITHDRAWAL_APPROVAL: 'true' });
    const made = await server.cli('admin', 'create', '--email', ADMIN_EMAIL, '--password', PASSWORD, '--name', 'Console Admin');
    assert.equal(made.code, 0, made.stdout);
    await signUp(customer, 'CUSTOMER', 'customer@console.test');
    await signUp(contractor, 'CONTRACTOR', 'contractor@console.test');
    const deposit = await customer.client.mutate({ mutation: DEPOSIT, variables: { input: { amount: '500' } } });
    assert.equal((await submitForm(deposit.data.deposit.checkoutUrl)).status, 200);
    const onboarding = await contractor.client.mutate({ mutation: CREATE_CONNECT });
    assert.equal((await submitForm(onboarding.data.createConnectAccount.onboardingUrl, { button: { name: 'outcome', value: 'verified' } })).status, 200);

    browser = await launchBrowser();
    page = await browser.newPage();
    page.setDefaultTimeout(15_000);
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  after(async () => {
    await browser?.close();
    for (const who of [customer, contractor]) who.client?.closeWebsocket();
    if (!server) return;
    const { code } = await server.stop();
    assert.equal(code, 0, 'graceful shutdown');
    const verify = await server.cli('ledger', 'verify');
    assert.equal(verify.code, 0, verify.stdout);
    await server.cleanup();
  });

  it('refuses a non-admin and keeps no session', async () => {
    await page.goto(`${server.url}/admin/`);
    await shoot('sign-in');
    await page.getByLabel('Email').fill(customer.email);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'This console is for admins' }).waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.length), 0);
    await page.reload();
    await page.getByRole('button', { name: 'Sign in' }).waitFor(); // still signed out
    await shoot('refused');
  });

  it('signs an admin in from the keyboard', async () => {
    await page.getByLabel('Email').focus();
    await page.keyboard.type(ADMIN_EMAIL);
    await page.keyboard.press('Tab');
    await page.keyboard.type(PASSWORD);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 1, name: 'Dashboard' }).waitFor();
    await page.getByText('Ledger balanced').waitFor();
    assert.equal(await page.getByRole('status').filter({ hasText: 'Live' }).first().textContent(), 'Live');
    await shoot('dashboard');
  });

  it('shows a release requested meanwhile, without a reload, and approves it', async () => {
    await go('Releases', 'Fund releases awaiting approval');
    await page.getByText('No release is waiting.').waitFor();
    await markDocument();
    const { jobId, contractId } = await contract('Fix the gutter', '50');
    const before = cents((await balance(contractor)).balance);
    await customer.client.mutate({ mutation: COMPLETE_JOB, variables: { jobId } });

    const card = page.getByTestId(`release-${contractId}`);
    await card.waitFor();
    await sameDocument();
    await shoot('releases');
    await card.getByRole('button', { name: 'Approve release of Fix the gutter' }).click();
    await card.waitFor({ state: 'detached' });
    const escrow = await customer.client.query({ query: CONTRACT, variables: { id: contractId } });
    assert.equal(escrow.data.node.escrow.status, 'RELEASED');
    assert.equal(cents((await balance(contractor)).balance), before + 4000n); // $50 less the 20 % service fee
  });

  it('shows a withdrawal requested meanwhile, without a reload, and approves it', async () => {
    await go('Withdrawals', 'Withdrawals awaiting approval');
    await markDocument();
    const { data } = await contractor.client.mutate({ mutation: WITHDRAW, variables: { amount: '20' } });
    const id = data.withdraw.withdrawal.id;
    assert.equal(data.withdraw.withdrawal.status, 'PENDING');

    const card = page.getByTestId(`withdrawal-${id}`);
    await card.waitFor();
    await sameDocument();
    await shoot('withdrawals');
    await card.getByRole('button', { name: 'Approve withdrawal' }).click();
    await card.waitFor({ state: 'detached' });
    const after = await contractor.client.query({ query: WITHDRAWAL, variables: { id } });
    assert.equal(after.data.withdrawal.status, 'COMPLETED');
  });

  it('settles a dispute with a split after its preview, and the wallets show it', async () => {
    await go('Disputes', 'Open disputes');
    await markDocument();
    const { contractId } = await contract('Tile the bathroom', '100');
    const upload = await customer.client.mutate({ mutation: UPLOAD, variables: { file: new File([PNG], 'crack.png', { type: 'image/png' }) } });
    const opened = await customer.client.mutate({
      mutation: OPEN_DISPUTE,
      variables: { input: { contractId, reason: 'QUALITY', description: 'Half the tiles are cracked.' } },
    });
    const disputeId = opened.data.openDispute.id;
    await customer.client.mutate({
      mutation: ADD_MESSAGE,
      variables: { input: { disputeId, body: 'Here is a photo of the cracks.', mediaIds: [upload.data.uploadMedia.id] } },
    });
    await contractor.client.mutate({ mutation: PROPOSE, variables: { input: { disputeId, contractorAmount: '60' } } });

    const card = page.getByTestId(`dispute-${disputeId}`);
    await card.getByText('latest proposal').waitFor(); // the proposal arrived too, live
    await sameDocument();
    await shoot('disputes');
    await card.getByRole('link', { name: 'Tile the bathroom' }).click();
    await page.getByRole('heading', { level: 1, name: 'Dispute: Tile the bathroom' }).waitFor();
    await page.getByText('Here is a photo of the cracks.').waitFor();
    const image = page.getByRole('img', { name: 'Image attached by Console customer' });
    await image.waitFor();
    assert.equal(await image.evaluate((img) => img.complete && img.naturalWidth), 1, 'the attached image loads');

    // A share the escrow cannot pay is refused with the server's words.
    const share = page.getByLabel("Contractor's share of the 100.00 escrow");
    await share.fill('150');
    await page.getByLabel('Note (why; the parties see it)').fill('The cracked tiles are redone at the contractor’s cost.');
    await page.getByRole('button', { name: 'Preview split' }).click();
    await page.getByRole('alert').filter({ hasText: 'Contractor amount must be between $0.00 and $100.00' }).waitFor();

    const customerBefore = cents((await balance(customer)).balance);
    const contractorBefore = cents((await balance(contractor)).balance);
    await share.fill('40');
    await page.getByRole('button', { name: 'Preview split' }).click();
    const preview = page.getByRole('region', { name: 'Split preview' });
    await preview.waitFor();
    // $100 escrow, $5 platform fee, 20 % service fee: 40 → 8 fee, 32 paid;
    // 60 back from escrow; the fee kept pro rata, 2, and 3 refunded.
    const rows = Object.fromEntries(
      await preview.getByRole('row').evaluateAll((trs) => trs.map((tr) => [tr.cells[0].textContent, tr.cells[1].textContent])),
    );
    assert.deepEqual(rows, {
      "Contractor's share": '$40.00',
      'Service fee (to the platform)': '$8.00',
      'Contractor receives': '$32.00',
      "Customer's refund from the escrow": '$60.00',
      'Platform fee kept': '$2.00',
      'Platform fee refunded to the customer': '$3.00',
    });
    await shoot('dispute-preview');
    await preview.getByRole('button', { name: 'Confirm: settle with 40.00 to the contractor' }).click();
    await page.getByTestId('dispute-outcome').filter({ hasText: '$40.00 to the contractor, $63.00 back to the customer' }).waitFor();
    assert.equal(await page.getByTestId('dispute-status').textContent(), 'SETTLED');

    // The parties' pages show what the split paid.
    await page.getByRole('link', { name: 'Console contractor' }).first().click();
    await page.getByTestId('wallet-balance').filter({ hasText: shown(contractorBefore + 3200n) }).waitFor();
    await page.goBack();
    await page.getByRole('link', { name: 'Console customer' }).first().click();
    await page.getByTestId('wallet-balance').filter({ hasText: shown(customerBefore + 6300n) }).waitFor();
    await page.getByTestId('transactions').getByText('REFUND').first().waitFor();
    await shoot('user');
  });

  it('finds a user, freezes the wallet and unfreezes it from the frozen wallets', async () => {
    await go('Users', 'Users');
    await page.getByLabel('Search by id, email or name').fill('CUSTOMER@console');
    await page.getByRole('button', { name: 'Search' }).click();
    await shoot('users');
    await page.getByRole('link', { name: 'Console customer' }).click();
    await page.getByRole('heading', { level: 1, name: 'Console customer' }).waitFor();

    await page.getByLabel('Reason for freezing (for admins)').fill('Chargeback pattern under review');
    await page.getByRole('button', { name: 'Freeze wallet' }).click();
    await page.getByTestId('wallet-frozen').filter({ hasText: 'Yes, for ADMIN: Chargeback pattern under review' }).waitFor();
    assert.equal((await balance(customer)).isFrozen, true);

    await go('Frozen wallets', 'Frozen wallets');
    const card = page.getByTestId(`frozen-${customer.id}`);
    await card.getByText('Chargeback pattern under review').waitFor();
    await shoot('frozen');
    await card.getByRole('button', { name: "Unfreeze Console customer's wallet" }).click();
    await card.waitFor({ state: 'detached' });
    assert.equal((await balance(customer)).isFrozen, false);
  });

  it('shows a chargeback and a fraud warning as they come, and refunds the warned deposit to its card', async () => {
    await go('Chargebacks', 'Chargebacks and fraud warnings');
    await markDocument();
    // The sandbox's Checkout: 5423 draws an early fraud warning, 0259 a
    // chargeback; either freezes its payer's wallet, so two payers.
    const payers = [];
    for (const [i, card] of ['4000000000005423', '4000000000000259'].entries()) {
      const payer = { session: {} };
      await signUp(payer, 'CUSTOMER', `payer${i}@console.test`);
      payers.push(payer);
      const deposit = await payer.client.mutate({ mutation: DEPOSIT, variables: { input: { amount: '30' } } });
      assert.equal((await submitForm(deposit.data.deposit.checkoutUrl, { fields: { card } })).status, 200);
    }
    const warning = page.locator('[data-testid^="fraud-warning-"]');
    await warning.waitFor();
    await page.locator('[data-testid^="chargeback-"]').getByText('Console customer').waitFor();
    await sameDocument();
    await shoot('chargebacks');
    await warning.getByRole('button', { name: 'Refund the deposit to the card' }).click();
    await warning.waitFor({ state: 'detached' });
    for (const payer of payers) payer.client.closeWebsocket();
  });

  it('finds every action of this test in the audit log, and the dashboard reconciles with Stripe', async () => {
    await go('Audit log', 'Audit log');
    for (const action of ['APPROVE_RELEASE', 'APPROVE_WITHDRAWAL', 'RESOLVE_DISPUTE', 'FREEZE_WALLET', 'UNFREEZE_WALLET', 'REFUND_DEPOSIT']) {
      await page.getByTestId(`audit-${action}`).first().waitFor();
    }
    // Filtered by target: the frozen customer's freeze and unfreeze only.
    await page.getByLabel('Target id').fill(customer.id);
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.getByTestId('audit-APPROVE_RELEASE').waitFor({ state: 'detached' });
    // The filtered page may still be arriving when the old rows are gone.
    await page.getByTestId('audit-UNFREEZE_WALLET').waitFor();
    assert.equal(await page.getByTestId('audit-FREEZE_WALLET').count(), 1);
    await shoot('audit');
    await go('Dashboard', 'Dashboard');
    await page.getByRole('button', { name: /Check the last 30 days against Stripe/ }).click();
    await page.getByTestId('reconciliation').getByText(/^Clean:/).waitFor();
    await shoot('dashboard-reconciled');
  });

  it('signs out', async () => {
    await go('Dashboard', 'Dashboard');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.length), 0);
  });

  it('needed no other host, and the page logged no error (no Content-Security-Policy violation)', () => {
    assert.deepEqual(browser.refused, []);
    assert.deepEqual(browser.errors, []);
  });
});

describe('the console keeps its session across short-lived access tokens', { skip }, () => {
  let server;
  let browser;
  let page;
  const customer = { session: {} };
  const contractor = { session: {} };

  before(async () => {
    // Access tokens of 6 s: the console refreshes each at two thirds of its life.
    server = await startServer({ REQUIRE_RELEASE_APPROVAL: 'true', ACCESS_TOKEN_TTL: '6s' });
    const made = await server.cli('admin', 'create', '--email', ADMIN_EMAIL, '--password', PASSWORD, '--name', 'Console Admin');
    assert.equal(made.code, 0, made.stdout);
    for (const [who, role] of [[customer, 'CUSTOMER'], [contractor, 'CONTRACTOR']]) {
      who.client = apolloClient(server, who.session);
      const { data } = await who.client.mutate({
        mutation: REGISTER,
        variables: { input: { email: `${role.toLowerCase()}@refresh.test`, password: PASSWORD, name: `Refresh ${role.toLowerCase()}`, role } },
      });
      who.session.accessToken = data.register.tokens.accessToken;
    }
    const deposit = await customer.client.mutate({ mutation: DEPOSIT, variables: { input: { amount: '50' } } });
    assert.equal((await submitForm(deposit.data.deposit.checkoutUrl)).status, 200);
    browser = await launchBrowser();
    page = await browser.newPage();
    page.setDefaultTimeout(20_000);
  });

  after(async () => {
    await browser?.close();
    for (const who of [customer, contractor]) who.client?.closeWebsocket();
    await server?.cleanup();
  });

  it('refreshes the access token before it expires, and the queues stay live', { timeout: 90_000 }, async () => {
    await page.goto(`${server.url}/admin/releases`);
    await page.getByLabel('Email').fill(ADMIN_EMAIL);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('No release is waiting.').waitFor();
    const token = () => page.evaluate(() => JSON.parse(sessionStorage.getItem('jobsphere.console.session')).accessToken);
    // Two refreshes later the first token has expired; the console goes on.
    const seen = new Set([await token()]);
    while (seen.size < 3) {
      seen.add(await token());
      await page.waitForTimeout(250);
    }

    // The customer's tokens expire too: sign in afresh for each call.
    const fresh = async (who, email) => {
      const { data } = await who.client.mutate({
        mutation: gql`mutation Login($input: LoginInput!) { login(input: $input) { tokens { accessToken } } }`,
        variables: { input: { email, password: PASSWORD } },
      });
      who.session.accessToken = data.login.tokens.accessToken;
    };
    await fresh(customer, 'customer@refresh.test');
    const job = await customer.client.mutate({
      mutation: CREATE_JOB,
      variables: { input: { title: 'Sweep the chimney', description: 'Before the winter, please.', budget: '20' } },
    });
    const jobId = job.data.createJob.id;
    await fresh(contractor, 'contractor@refresh.test');
    const applied = await contractor.client.mutate({ mutation: APPLY, variables: { input: { jobId } } });
    await fresh(customer, 'customer@refresh.test');
    const sent = await customer.client.mutate({
      mutation: SEND_OFFER,
      variables: { input: { applicationId: applied.data.applyToJob.id, amount: '20', timeline: '1 day', description: 'Sweep it all.' } },
    });
    await fresh(contractor, 'contractor@refresh.test');
    const accepted = await contractor.client.mutate({ mutation: ACCEPT_OFFER, variables: { offerId: sent.data.sendOffer.offer.id } });
    await contractor.client.mutate({ mutation: START_JOB, variables: { id: jobId } });
    await fresh(customer, 'customer@refresh.test');
    await customer.client.mutate({ mutation: COMPLETE_JOB, variables: { jobId } });

    const card = page.getByTestId(`release-${accepted.data.acceptOffer.contract.id}`);
    await card.waitFor(); // pushed over a websocket reopened with a refreshed token
    await card.getByRole('button', { name: 'Approve release of Sweep the chimney' }).click();
    await card.waitFor({ state: 'detached' });
    assert.equal(await page.getByRole('alert').count(), 0);
  });
});
