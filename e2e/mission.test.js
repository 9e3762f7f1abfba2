// The whole mission, as Flutter and web apps do it, against the real
// binary: Apollo Client over HTTP (with the upload link), graphql-ws for
// subscriptions, the sandbox's pages where a payer or a contractor clicks.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { gql } from '@apollo/client/core/index.js';

import { apolloClient, events, submitForm } from './lib/clients.js';
import { startServer } from './lib/server.js';

const PASSWORD = 'Passw0rd!e2e';

const AUTH = gql`
  fragment Auth on AuthPayload { user { id role } tokens { accessToken refreshToken } }
`;
const REGISTER = gql`
  mutation Register($input: RegisterInput!) { register(input: $input) { ...Auth } } ${AUTH}
`;
const LOGIN = gql`
  mutation Login($input: LoginInput!) { login(input: $input) { ...Auth } } ${AUTH}
`;
const WALLET = gql`query Wallet { wallet { balance escrowBalance pendingDeposits totalEarnings totalWithdrawals } }`;
const WALLET_UPDATED = gql`
  subscription WalletUpdated { walletUpdated { kind wallet { balance escrowBalance } } }
`;
const OFFER_CHANGED = gql`
  subscription OfferStatusChanged($offerId: ID) { offerStatusChanged(offerId: $offerId) { id status } }
`;
const JOB_CHANGED = gql`
  subscription JobStatusChanged($jobId: ID) { jobStatusChanged(jobId: $jobId) { id status contract { id } } }
`;
const DEPOSIT = gql`
  mutation Deposit($input: DepositInput!) {
    deposit(input: $input) {
      deposit { id status amount } checkoutUrl sessionId requiresAction clientSecret paymentIntentId
    }
  }
`;
const CREATE_JOB = gql`
  mutation CreateJob($input: CreateJobInput!) { createJob(input: $input) { id status } }
`;
const APPLY = gql`
  mutation ApplyToJob($input: ApplyToJobInput!) { applyToJob(input: $input) { id status } }
`;
const SEND_OFFER = gql`
  mutation SendOffer($input: SendOfferInput!) {
    sendOffer(input: $input) { offer { id status } wallet { balance escrowBalance } amounts { totalCharge contractorPayout } }
  }
`;
const ACCEPT_OFFER = gql`
  mutation AcceptOffer($offerId: ID!) { acceptOffer(offerId: $offerId) { offer { status } job { status } contract { id } } }
`;
const START_JOB = gql`
  mutation StartJob($id: ID!) { updateJobStatus(id: $id, status: IN_PROGRESS) { status } }
`;
const COMPLETE_JOB = gql`
  mutation CompleteJob($jobId: ID!) { completeJob(jobId: $jobId) { awaitingApproval escrow { status } } }
`;
const APPROVE_RELEASE = gql`
  mutation ApproveFundRelease($contractId: ID!) { approveFundRelease(contractId: $contractId) { status freelancerEarning } }
`;
const CREATE_CONNECT = gql`
  mutation CreateConnectAccount { createConnectAccount { accountId onboardingUrl } }
`;
const CONNECT_STATUS = gql`
  query ConnectAccountStatus { connectAccountStatus { hasAccount status payoutsEnabled } }
`;
const WITHDRAW = gql`
  mutation Withdraw($amount: Decimal!, $idempotencyKey: String) {
    withdraw(amount: $amount, idempotencyKey: $idempotencyKey) { withdrawal { id status amount } wallet { balance } estimatedArrival }
  }
`;
const PAY_FOR_JOB = gql`
  mutation PayForJob($input: PayForJobInput!) { payForJob(input: $input) { sessionId checkoutUrl } }
`;
const JOB = gql`
  query Job($id: ID!) { job(id: $id) { id status contract { id status escrow { status fundingSource amount } } } }
`;
const REQUEST_RELEASE = gql`
  mutation RequestFundRelease($contractId: ID!) { requestFundRelease(contractId: $contractId) { id } }
`;
const REFUND = gql`
  mutation RefundEscrow($input: RefundEscrowInput!) { refundEscrow(input: $input) { status fundingSource } }
`;
const RATE = gql`
  mutation RateFreelancer($input: RateFreelancerInput!) { rateFreelancer(input: $input) { id rating } }
`;
const REVIEWS = gql`
  query Reviews($freelancerId: ID!) { reviews(freelancerId: $freelancerId, first: 10) { totalCount edges { node { rating description } } } }
`;
const UPLOAD = gql`
  mutation UploadMedia($file: Upload!) { uploadMedia(file: $file) { mediaUrl mediaType bytes } }
`;
const STATS = gql`query PlatformStats { platformStats { revenue escrowHeld walletBalances ledgerBalanced receivables losses openChargebacks } }`;
const OWED_WALLET = gql`query OwedWallet { wallet { balance amountOwed isFrozen frozenReason } }`;
const PAYMENT_INTENTS = gql`query PaymentIntents { transactions(first: 50) { edges { node { type stripePaymentIntentId } } } }`;
const DISPUTE = gql`
  fragment Dispute on Dispute { id status settledBy contractorAmount customerRefund latestProposal { id contractorAmount } }
`;
const OPEN_DISPUTE = gql`
  mutation OpenDispute($input: OpenDisputeInput!) { openDispute(input: $input) { ...Dispute contract { escrow { status } } } } ${DISPUTE}
`;
const ADD_DISPUTE_MESSAGE = gql`
  mutation AddDisputeMessage($input: DisputeMessageInput!) { addDisputeMessage(input: $input) { id body } }
`;
const PROPOSE_SETTLEMENT = gql`
  mutation ProposeSettlement($input: ProposeSettlementInput!) { proposeSettlement(input: $input) { ...Dispute } } ${DISPUTE}
`;
const ACCEPT_SETTLEMENT = gql`
  mutation AcceptSettlement($disputeId: ID!, $proposalId: ID) {
    acceptSettlement(disputeId: $disputeId, proposalId: $proposalId) { ...Dispute contract { status escrow { status } } }
  } ${DISPUTE}
`;
const DISPUTE_UPDATED = gql`
  subscription DisputeUpdated($disputeId: ID) { disputeUpdated(disputeId: $disputeId) { ...Dispute } } ${DISPUTE}
`;

// A 1×1 PNG.
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==',
  'base64',
);

describe('the mission, through Apollo Client and graphql-ws', () => {
  let server;
  const customer = { session: {} };
  const contractor = { session: {} };
  const admin = { session: {} };
  const closers = [];

  async function signUp(who, role, email) {
    who.client = apolloClient(server, who.session);
    closers.push(() => who.client.closeWebsocket());
    const { data } = await who.client.mutate({
      mutation: REGISTER,
      variables: { input: { email, password: PASSWORD, name: `E2E ${role}`, role } },
    });
    who.id = data.register.user.id;
    who.session.accessToken = data.register.tokens.accessToken;
  }
  const wallet = async (who) => (await who.client.query({ query: WALLET })).data.wallet;
  const job = async (who, id) => (await who.client.query({ query: JOB, variables: { id } })).data.job;

  before(async () => {
    server = await startServer({ REQUIRE_RELEASE_APPROVAL: 'true', REQUIRE_WITHDRAWAL_APPROVAL: 'false' });
    const made = await server.cli('admin', 'create', '--email', 'admin@e2e.test', '--password', PASSWORD, '--name', 'E2E Admin');
    assert.equal(made.code, 0, made.stdout);
    admin.client = apolloClient(server, admin.session);
    closers.push(() => admin.client.closeWebsocket());
    const { data } = await admin.client.mutate({ mutation: LOGIN, variables: { input: { email: 'admin@e2e.test', password: PASSWORD } } });
    admin.session.accessToken = data.login.tokens.accessToken;
    await signUp(customer, 'CUSTOMER', 'customer@e2e.test');
    await signUp(contractor, 'FREELANCER', 'contractor@e2e.test');
    customer.walletEvents = await events(server, customer.client, WALLET_UPDATED);
    contractor.walletEvents = await events(server, contractor.client, WALLET_UPDATED);
    contractor.offerEvents = await events(server, contractor.client, OFFER_CHANGED);
    closers.push(() => customer.walletEvents.close(), () => contractor.walletEvents.close(), () => contractor.offerEvents.close());
  });

  after(async () => {
    for (const close of closers) close();
    if (!server) return;
    const { code, signal } = await server.stop();
    assert.equal(code, 0, `graceful shutdown (signal ${signal})`);
    // The books balance, checked by the operator's command on the stopped server's database.
    const verify = await server.cli('ledger', 'verify');
    assert.equal(verify.code, 0, verify.stdout);
    await server.cleanup();
  });

  it('deposits through the sandbox Checkout page and pushes the new balance', async () => {
    const { data } = await customer.client.mutate({ mutation: DEPOSIT, variables: { input: { amount: '300' } } });
    assert.equal(data.deposit.deposit.status, 'PENDING');
    assert.match(data.deposit.checkoutUrl, /\/sandbox\/checkout\//);
    const paid = await submitForm(data.deposit.checkoutUrl); // the page's default test card, 4242 4242 4242 4242
    assert.equal(paid.status, 200, await paid.text());
    const pushed = await customer.walletEvents.next((e) => e.walletUpdated.kind === 'DEPOSIT_SUCCEEDED');
    assert.equal(pushed.walletUpdated.wallet.balance, '300.00');
  });

  it('deposits with a card that needs 3-D Secure', async () => {
    const { data } = await customer.client.mutate({
      mutation: DEPOSIT,
      variables: { input: { amount: '50.00', paymentMethodId: 'pm_card_authenticationRequired' } },
    });
    assert.equal(data.deposit.requiresAction, true);
    assert.ok(data.deposit.clientSecret);
    // What Stripe.handleNextAction does in the app, the sandbox does here.
    const res = await fetch(`${server.url}/sandbox/payment_intents/${data.deposit.paymentIntentId}/authenticate`, {
      method: 'POST',
      body: new URLSearchParams({ outcome: 'approve' }),
    });
    assert.equal(res.status, 200, await res.text());
    const pushed = await customer.walletEvents.next((e) => e.walletUpdated.wallet.balance === '350.00');
    assert.equal(pushed.walletUpdated.kind, 'DEPOSIT_SUCCEEDED');
  });

  it('runs job → offer → accept → complete → admin approval', async () => {
    const created = await customer.client.mutate({
      mutation: CREATE_JOB,
      variables: { input: { title: 'Fix the kitchen sink', description: 'The kitchen sink leaks under the cabinet.', budget: '100', category: 'plumbing' } },
    });
    const jobId = created.data.createJob.id;
    const applied = await contractor.client.mutate({
      mutation: APPLY,
      variables: { input: { jobId, coverLetter: 'Licensed plumber, can come tomorrow.', proposedAmount: '100' } },
    });
    const sent = await customer.client.mutate({
      mutation: SEND_OFFER,
      variables: { input: { applicationId: applied.data.applyToJob.id, amount: '100.00', timeline: '2 days', description: 'Replace the trap and the seals.' } },
    });
    const offer = sent.data.sendOffer;
    assert.deepEqual(offer.amounts, { __typename: 'OfferAmounts', totalCharge: '105.00', contractorPayout: '80.00' });
    assert.equal(offer.wallet.balance, '245.00');
    const seen = await contractor.offerEvents.next((e) => e.offerStatusChanged.id === offer.offer.id);
    assert.equal(seen.offerStatusChanged.status, 'PENDING');

    const accepted = await contractor.client.mutate({ mutation: ACCEPT_OFFER, variables: { offerId: offer.offer.id } });
    assert.equal(accepted.data.acceptOffer.job.status, 'ASSIGNED');
    const contractId = accepted.data.acceptOffer.contract.id;
    await contractor.offerEvents.next((e) => e.offerStatusChanged.id === offer.offer.id && e.offerStatusChanged.status === 'ACCEPTED');

    await contractor.client.mutate({ mutation: START_JOB, variables: { id: jobId } });
    const done = await customer.client.mutate({ mutation: COMPLETE_JOB, variables: { jobId } });
    assert.equal(done.data.completeJob.awaitingApproval, true);
    const released = await admin.client.mutate({ mutation: APPROVE_RELEASE, variables: { contractId } });
    assert.equal(released.data.approveFundRelease.status, 'RELEASED');
    const payout = await contractor.walletEvents.next((e) => e.walletUpdated.kind === 'PAYOUT_RECEIVED');
    assert.equal(payout.walletUpdated.wallet.balance, '80.00');
    contractor.firstContractId = contractId;

    const review = await customer.client.mutate({
      mutation: RATE,
      variables: { input: { contractId, rating: 5, description: 'Quick, tidy and friendly.' } },
    });
    assert.equal(review.data.rateFreelancer.rating, 5);
    const reviews = await customer.client.query({ query: REVIEWS, variables: { freelancerId: contractor.id } });
    assert.equal(reviews.data.reviews.totalCount, 1);
  });

  it('onboards the contractor on the sandbox Connect page and withdraws', async () => {
    const { data } = await contractor.client.mutate({ mutation: CREATE_CONNECT });
    const onboarded = await submitForm(data.createConnectAccount.onboardingUrl, { button: { name: 'outcome', value: 'verified' } });
    assert.equal(onboarded.status, 200, await onboarded.text());
    const status = await contractor.client.query({ query: CONNECT_STATUS });
    assert.equal(status.data.connectAccountStatus.status, 'VERIFIED');

    const key = `e2e-${Date.now()}`;
    const first = await contractor.client.mutate({ mutation: WITHDRAW, variables: { amount: '50', idempotencyKey: key } });
    assert.equal(first.data.withdraw.withdrawal.status, 'COMPLETED');
    assert.equal(first.data.withdraw.wallet.balance, '30.00');
    // A retry of the same request (a lost response) pays nothing more.
    const retry = await contractor.client.mutate({ mutation: WITHDRAW, variables: { amount: '50', idempotencyKey: key } });
    assert.equal(retry.data.withdraw.withdrawal.id, first.data.withdraw.withdrawal.id);
    assert.equal((await wallet(contractor)).balance, '30.00');
  });

  async function paidByCheckout(title, rate) {
    const created = await customer.client.mutate({
      mutation: CREATE_JOB,
      variables: { input: { title, description: `${title}: paid directly by card.`, budget: rate } },
    });
    const jobId = created.data.createJob.id;
    const assigned = await events(server, customer.client, JOB_CHANGED, { jobId });
    try {
      const { data } = await customer.client.mutate({
        mutation: PAY_FOR_JOB,
        variables: { input: { jobId, freelancerId: contractor.id, title, rate } },
      });
      const paid = await submitForm(data.payForJob.checkoutUrl);
      assert.equal(paid.status, 200, await paid.text());
      const pushed = await assigned.next((e) => e.jobStatusChanged.status === 'ASSIGNED');
      return { jobId, contractId: pushed.jobStatusChanged.contract.id };
    } finally {
      assigned.close();
    }
  }

  it('pays a job by Checkout, then releases it', async () => {
    const { jobId, contractId } = await paidByCheckout('Paint the fence', '40');
    const before = await job(customer, jobId);
    assert.equal(before.contract.escrow.fundingSource, 'CHECKOUT');
    assert.equal(before.contract.escrow.amount, '40.00');
    await customer.client.mutate({ mutation: REQUEST_RELEASE, variables: { contractId } });
    await admin.client.mutate({ mutation: APPROVE_RELEASE, variables: { contractId } });
    assert.equal((await wallet(contractor)).balance, '62.00'); // 30 + 40 − 20 %
  });

  it('pays a job by Checkout, then refunds it to the card', async () => {
    const { jobId, contractId } = await paidByCheckout('Mow the lawn', '20');
    const refunded = await customer.client.mutate({
      mutation: REFUND,
      variables: { input: { contractId, refundTo: 'CHECKOUT', cancelReason: 'freelancer_unresponsive' } },
    });
    assert.equal(refunded.data.refundEscrow.status, 'REFUNDED');
    assert.equal((await job(customer, jobId)).status, 'CANCELLED');
    assert.equal((await wallet(customer)).balance, '245.00'); // the card got it back, not the wallet
  });

  it('uploads a picture with the upload link and serves it back', async () => {
    const file = new File([PNG], 'photo.png', { type: 'image/png' });
    const { data } = await customer.client.mutate({ mutation: UPLOAD, variables: { file } });
    assert.equal(data.uploadMedia.mediaType, 'IMAGE');
    assert.equal(data.uploadMedia.bytes, PNG.length);
    const served = await fetch(data.uploadMedia.mediaUrl);
    assert.deepEqual(Buffer.from(await served.arrayBuffer()), PNG);
  });

  it('limits password guessing', async () => {
    const guess = () => customer.client.mutate({
      mutation: LOGIN,
      variables: { input: { email: 'customer@e2e.test', password: 'not-the-Passw0rd' } },
    });
    for (let i = 0; i < 10; i++) {
      await assert.rejects(guess, (err) => err.graphQLErrors[0].extensions.code === 'UNAUTHENTICATED');
    }
    await assert.rejects(guess, (err) => {
      const [e] = err.graphQLErrors;
      return e.extensions.code === 'RATE_LIMITED' && e.extensions.retryAfterSeconds > 0;
    });
  });

  it('shows its work in /metrics', async () => {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    for (const series of [
      'jobsphere_http_requests_total{',
      'jobsphere_http_request_duration_seconds_bucket{',
      'jobsphere_graphql_operations_total{code="OK",operation_name="SendOffer",operation_type="mutation"}',
      'jobsphere_graphql_operation_duration_seconds_bucket{',
      'jobsphere_websocket_connections ',
      'jobsphere_graphql_subscriptions ',
      'jobsphere_webhook_events_total{outcome="processed",type="checkout.session.completed"}',
      'jobsphere_ledger_transactions_total{type="DEPOSIT"}',
      'jobsphere_rate_limit_refusals_total{limit="login"} 1',
      'go_sql_open_connections{',
      'process_resident_memory_bytes ',
    ]) {
      assert.ok(text.includes(series), `/metrics has no ${series}`);
    }
  });

  it('settles a dispute with a split, pushed over graphql-ws', async () => {
    const created = await customer.client.mutate({
      mutation: CREATE_JOB,
      variables: { input: { title: 'Tile the bathroom', description: 'Ten square metres of wall tiles.', budget: '100' } },
    });
    const jobId = created.data.createJob.id;
    const applied = await contractor.client.mutate({ mutation: APPLY, variables: { input: { jobId, coverLetter: 'Tiler.' } } });
    const sent = await customer.client.mutate({
      mutation: SEND_OFFER,
      variables: { input: { applicationId: applied.data.applyToJob.id, amount: '100', timeline: '3 days', description: 'White tiles, grey grout.' } },
    });
    const accepted = await contractor.client.mutate({ mutation: ACCEPT_OFFER, variables: { offerId: sent.data.sendOffer.offer.id } });
    const contractId = accepted.data.acceptOffer.contract.id;
    const [customerBefore, contractorBefore] = [await wallet(customer), await wallet(contractor)];

    const opened = await customer.client.mutate({
      mutation: OPEN_DISPUTE,
      variables: { input: { contractId, reason: 'QUALITY', description: 'Half the tiles are crooked.' } },
    });
    const disputeId = opened.data.openDispute.id;
    assert.equal(opened.data.openDispute.contract.escrow.status, 'DISPUTED');
    const customerPushes = await events(server, customer.client, DISPUTE_UPDATED, { disputeId });
    const adminPushes = await events(server, admin.client, DISPUTE_UPDATED);
    try {
      await contractor.client.mutate({ mutation: ADD_DISPUTE_MESSAGE, variables: { input: { disputeId, body: 'The left wall is fine.' } } });
      const proposed = await contractor.client.mutate({
        mutation: PROPOSE_SETTLEMENT,
        variables: { input: { disputeId, contractorAmount: '60' } },
      });
      const proposal = proposed.data.proposeSettlement.latestProposal;
      // The customer's screen learns of the proposal by the push, and accepts what it saw.
      const pushed = await customerPushes.next((e) => e.disputeUpdated.latestProposal?.id === proposal.id);
      assert.equal(pushed.disputeUpdated.latestProposal.contractorAmount, '60.00');
      const settled = await customer.client.mutate({
        mutation: ACCEPT_SETTLEMENT,
        variables: { disputeId, proposalId: pushed.disputeUpdated.latestProposal.id },
      });
      assert.equal(settled.data.acceptSettlement.status, 'SETTLED');
      assert.equal(settled.data.acceptSettlement.settledBy, 'AGREEMENT');
      assert.equal(settled.data.acceptSettlement.contract.escrow.status, 'SETTLED');
      assert.equal(settled.data.acceptSettlement.customerRefund, '42.00');
      const seen = await adminPushes.next((e) => e.disputeUpdated.id === disputeId && e.disputeUpdated.status === 'SETTLED');
      assert.equal(seen.disputeUpdated.contractorAmount, '60.00');
    } finally {
      customerPushes.close();
      adminPushes.close();
    }
    // Contractor +$48.00 (60 − 20 %), customer +$40.00 and +$2.00 of the platform fee.
    const money = (w) => Number(w.balance);
    assert.equal(money(await wallet(contractor)) - money(contractorBefore), 48);
    assert.equal(money(await wallet(customer)) - money(customerBefore), 42);
  });

  it('takes a card chargeback (4000 0000 0000 0259) back, then gives it back when the case is won', async () => {
    const payer = { session: {} };
    await signUp(payer, 'CUSTOMER', 'chargeback@e2e.test');
    const owedWallet = async () => (await payer.client.query({ query: OWED_WALLET })).data.wallet;
    const payWith0259 = async (checkoutUrl) => {
      const paid = await submitForm(checkoutUrl, { fields: { card: '4000000000000259' } });
      assert.equal(paid.status, 200, await paid.text());
    };

    // A deposit paid with the disputed card: Stripe takes it back, the case is open.
    const { data } = await payer.client.mutate({ mutation: DEPOSIT, variables: { input: { amount: '100' } } });
    await payWith0259(data.deposit.checkoutUrl);
    assert.deepEqual(await owedWallet(), { __typename: 'Wallet', balance: '0.00', amountOwed: '0.00', isFrozen: true, frozenReason: 'CHARGEBACK' });

    // A job paid by Checkout with it: the money is in escrow, where the
    // contractor is protected, so the customer owes it.
    const created = await payer.client.mutate({
      mutation: CREATE_JOB,
      variables: { input: { title: 'Fix the gate', description: 'The garden gate does not latch.', budget: '100' } },
    });
    const jobId = created.data.createJob.id;
    const assigned = await events(server, payer.client, JOB_CHANGED, { jobId });
    let contractId;
    try {
      const paying = await payer.client.mutate({
        mutation: PAY_FOR_JOB,
        variables: { input: { jobId, freelancerId: contractor.id, title: 'Fix the gate', rate: '100' } },
      });
      await payWith0259(paying.data.payForJob.checkoutUrl);
      contractId = (await assigned.next((e) => e.jobStatusChanged.status === 'ASSIGNED')).jobStatusChanged.contract.id;
    } finally {
      assigned.close();
    }
    assert.deepEqual(await owedWallet(), { __typename: 'Wallet', balance: '0.00', amountOwed: '105.00', isFrozen: true, frozenReason: 'CHARGEBACK' });
    assert.equal((await job(payer, jobId)).contract.escrow.status, 'FUNDED');

    // Both cases won on the sandbox's payment pages: the funds come back.
    const history = (await payer.client.query({ query: PAYMENT_INTENTS })).data.transactions.edges;
    const payments = [...new Set(history.map((e) => e.node.stripePaymentIntentId).filter(Boolean))];
    assert.equal(payments.length, 2, JSON.stringify(history));
    for (const pi of payments) {
      const page = `${server.url}/sandbox/payments/${pi}`;
      const closed = await submitForm(page, { button: { name: 'outcome', value: 'won' } });
      assert.equal(closed.status, 200, await closed.text());
    }
    assert.deepEqual(await owedWallet(), { __typename: 'Wallet', balance: '100.00', amountOwed: '0.00', isFrozen: false, frozenReason: null });

    // The job goes on as any other: released to the contractor.
    await payer.client.mutate({ mutation: REQUEST_RELEASE, variables: { contractId } });
    await admin.client.mutate({ mutation: APPROVE_RELEASE, variables: { contractId } });
  });

  it('ends with the books balanced', async () => {
    const { data } = await admin.client.query({ query: STATS });
    assert.equal(data.platformStats.ledgerBalanced, true);
    // Fees: $5 + $20 on the first job, $2 + $8 on the second, none kept on the refunded one,
    // $3 of the platform fee and $12 of service fee on the disputed one, $5 + $20 on the charged-back one.
    assert.equal(data.platformStats.revenue, '75.00');
    assert.equal(data.platformStats.escrowHeld, '0.00');
    // customer 245 − 105 + 42, contractor 62 + 48 + 80, the charged-back customer's 100.
    assert.equal(data.platformStats.walletBalances, '472.00');
    // Both chargebacks were won: nothing owed, Stripe's fees returned.
    assert.deepEqual([data.platformStats.receivables, data.platformStats.losses, data.platformStats.openChargebacks], ['0.00', '0.00', 0]);
  });
});
