import { useLazyQuery, useQuery } from '@apollo/client';
import { Link } from 'react-router';

import {
  GetPlatformStatsDocument,
  ListContractsDocument,
  ListFrozenWalletsDocument,
  ListWithdrawalsDocument,
  ReconcileDocument,
} from '../gql/graphql';
import { useQueueChanges } from '../live';
import { Loading, Money, Refusal, When } from '../ui';

/** Dashboard: the platform's money and the queues' lengths, refetched whenever a queue changes. */
export function Dashboard() {
  const stats = useQuery(GetPlatformStatsDocument);
  const releases = useQuery(ListContractsDocument, { variables: { first: 1, escrowStatus: 'RELEASE_REQUESTED' } });
  const withdrawals = useQuery(ListWithdrawalsDocument, { variables: { first: 1, status: 'PENDING' } });
  const frozen = useQuery(ListFrozenWalletsDocument, { variables: { first: 1 } });
  useQueueChanges('all', () => {
    void stats.refetch();
    void releases.refetch();
    void withdrawals.refetch();
    void frozen.refetch();
  });

  const s = stats.data?.platformStats;
  const counters = [
    { to: '/releases', label: 'Releases awaiting approval', count: releases.data?.contracts.totalCount },
    { to: '/withdrawals', label: 'Withdrawals awaiting approval', count: withdrawals.data?.withdrawals.totalCount },
    { to: '/disputes', label: 'Open disputes', count: s?.openDisputes },
    { to: '/chargebacks', label: 'Open chargebacks', count: s?.openChargebacks },
    { to: '/frozen', label: 'Frozen wallets', count: frozen.data?.frozenWallets.totalCount },
  ];
  return (
    <section aria-labelledby="dashboard-title">
      <h1 id="dashboard-title">Dashboard</h1>
      <Refusal error={stats.error} />
      <ul className="counters" aria-label="Queues">
        {counters.map((c) => (
          <li key={c.to}>
            <Link to={c.to}>
              <span className="count" data-testid={`count-${c.to.slice(1)}`}>
                {c.count ?? '…'}
              </span>
              <span>{c.label}</span>
            </Link>
          </li>
        ))}
      </ul>
      {!s ? (
        <Loading what="the platform's figures" />
      ) : (
        <>
          <p className={s.ledgerBalanced ? 'ok' : 'refusal'} role="status" data-testid="ledger">
            {s.ledgerBalanced
              ? 'Ledger balanced: every transaction sums to zero and every wallet matches its postings.'
              : 'Ledger NOT balanced: run `jobsphere ledger verify` on the server.'}
          </p>
          <dl className="figures">
            <Figure label="Revenue (fees, net of refunds)" value={s.revenue} />
            <Figure label="Held in escrow" value={s.escrowHeld} />
            <Figure label="Wallet balances" value={s.walletBalances} />
            <Figure label="Pending withdrawals" value={s.pendingWithdrawals} />
            <Figure label="Receivables (owed by users)" value={s.receivables} />
            <Figure label="Losses" value={s.losses} />
          </dl>
        </>
      )}
      <Reconciliation />
    </section>
  );
}

// reconcileDays is how far back the dashboard's check with Stripe looks.
const reconcileDays = 30;

/** Reconciliation: the last check of the ledger against Stripe's balance transactions, run on demand. */
function Reconciliation() {
  const [check, { data, error, loading }] = useLazyQuery(ReconcileDocument, { fetchPolicy: 'no-cache' });
  const r = data?.reconciliation;
  const since = () => new Date(Date.now() - reconcileDays * 24 * 3600 * 1000).toISOString();
  return (
    <section aria-labelledby="reconciliation-title" className="card">
      <h2 id="reconciliation-title">Reconciliation with Stripe</h2>
      <button type="button" disabled={loading} onClick={() => void check({ variables: { since: since() } })}>
        {loading ? 'Checking…' : `Check the last ${reconcileDays} days against Stripe`}
      </button>
      <Refusal error={error} />
      {r && (
        <div data-testid="reconciliation">
          <p className={r.clean ? 'ok' : 'refusal'} role="status">
            {r.clean
              ? `Clean: ${r.matched} movements matched.`
              : `Mismatch: ${r.unmatchedAtStripe.length} at Stripe and ${r.unmatchedInLedger.length} in the ledger unmatched.`}{' '}
            Checked <When value={r.checkedAt} />.
          </p>
          <dl className="figures">
            <Figure label="Matched" value={r.matchedAmount} />
            <Figure label="Stripe's fees" value={r.stripeFees} />
            <Figure label="Stripe holds" value={r.stripeBalance} />
            <Figure label="The ledger expects" value={r.expectedBalance} />
            <Figure label="Difference" value={r.balanceDifference} />
          </dl>
          {r.unmatchedAtStripe.length + r.unmatchedInLedger.length > 0 && (
            <ul aria-label="Unmatched items">
              {r.unmatchedAtStripe.map((i) => (
                <li key={`s-${i.stripeId}`}>
                  At Stripe: <code>{i.stripeId}</code> {i.kind} <Money value={i.amount} /> — {i.problem}
                </li>
              ))}
              {r.unmatchedInLedger.map((i) => (
                <li key={`l-${i.stripeId}`}>
                  In the ledger: <code>{i.stripeId}</code> {i.kind} <Money value={i.amount} /> — {i.problem}
                </li>
              ))}
            </ul>
          )}
        </div>
      )}
    </section>
  );
}

function Figure({ label, value }: { label: string; value: string }) {
  return (
    <div>
      <dt>{label}</dt>
      <dd>
        <Money value={value} />
      </dd>
    </div>
  );
}
