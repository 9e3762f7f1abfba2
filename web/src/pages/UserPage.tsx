import { useMutation, useQuery } from '@apollo/client';
import { useId, useState } from 'react';
import type { FormEvent } from 'react';
import { Link, useParams } from 'react-router';

import { FreezeWalletDocument, GetUserAccountDocument, ListUserTransactionsDocument, UnfreezeWalletDocument } from '../gql/graphql';
import type { TransactionType, WalletFieldsFragment } from '../gql/graphql';
import { useQueueChanges } from '../live';
import { Empty, Loading, Money, nodes, queuePage, Refusal, UserLink, When } from '../ui';

const transactionTypes: Record<TransactionType, string> = {
  DEPOSIT: 'Deposits',
  ESCROW_HOLD: 'Escrow holds',
  ESCROW_RELEASE: 'Escrow releases',
  PLATFORM_FEE: 'Platform fees',
  SERVICE_FEE: 'Service fees',
  CONTRACTOR_PAYOUT: 'Contractor payouts',
  REFUND: 'Refunds',
  WITHDRAWAL: 'Withdrawals',
  WALLET_TRANSFER: 'Wallet transfers',
  CHARGEBACK: 'Chargebacks',
  CHARGEBACK_REVERSAL: 'Chargebacks reversed',
};

/** UserPage: one user's money — wallet, transactions (filter, pages), deposits, withdrawals, disputes — and freezing. */
export function UserPage() {
  const { id = '' } = useParams();
  return <UserAccount key={id} id={id} />; // another user starts at their first page
}

function UserAccount({ id }: { id: string }) {
  const [type, setType] = useState<TransactionType | ''>('');
  // The cursors of the pages before this one: "Newer" pops one.
  const [cursors, setCursors] = useState<(string | null)[]>([]);
  const after = cursors.length > 0 ? cursors[cursors.length - 1] : null;
  const filterId = useId();
  const { data, error, refetch } = useQuery(GetUserAccountDocument, { variables: { id, listsFirst: queuePage.userLists } });
  const history = useQuery(ListUserTransactionsDocument, {
    variables: { id, first: queuePage.transactions, after, type: type || null },
  });
  // Any queue's change may be this user's money moving.
  useQueueChanges('all', () => {
    void refetch();
    void history.refetch();
  });

  if (error) return <Refusal error={error} />;
  if (!data) return <Loading what="the user" />;
  const u = data.node && 'id' in data.node ? data.node : null;
  if (!u) return <Empty>No such user.</Empty>;
  const txns = history.data?.node && 'transactions' in history.data.node ? history.data.node.transactions : null;

  return (
    <section aria-labelledby="user-title">
      <p>
        <Link to="/users">← Users</Link>
      </p>
      <h1 id="user-title">{u.name}</h1>
      <p className="muted">
        {u.email} · {u.role} · {u.id} · joined <When value={u.createdAt} />
      </p>
      {u.wallet && <Wallet userId={u.id} wallet={u.wallet} />}

      <h2 id="transactions-title">Transactions</h2>
      <div className="inline">
        <label htmlFor={filterId}>Type</label>
        <select
          id={filterId}
          value={type}
          onChange={(e) => {
            setType(e.target.value as TransactionType | '');
            setCursors([]);
          }}
        >
          <option value="">All types</option>
          {Object.entries(transactionTypes).map(([value, label]) => (
            <option key={value} value={value}>
              {label}
            </option>
          ))}
        </select>
      </div>
      <Refusal error={history.error} />
      {!history.data ? (
        <Loading what="transactions" />
      ) : nodes(txns).length === 0 ? (
        <Empty>No transaction.</Empty>
      ) : (
        <div className="table-wrap">
          <table aria-labelledby="transactions-title" data-testid="transactions">
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Type</th>
                <th scope="col">Status</th>
                <th scope="col">Amount</th>
                <th scope="col">Description</th>
              </tr>
            </thead>
            <tbody>
              {nodes(txns).map((t) => (
                <tr key={t.id}>
                  <td>
                    <When value={t.createdAt} />
                  </td>
                  <td>{t.type}</td>
                  <td>{t.status}</td>
                  <td className="num">
                    {direction(t, u.id)}
                    <Money value={t.amount} />
                  </td>
                  <td>{t.description}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <nav className="pager" aria-label="Transaction pages">
        <button type="button" className="secondary" disabled={cursors.length === 0} onClick={() => setCursors(cursors.slice(0, -1))}>
          Newer
        </button>
        <span>
          {txns?.totalCount ?? 0} in all · page {cursors.length + 1}
        </span>
        <button
          type="button"
          className="secondary"
          disabled={!txns?.pageInfo.hasNextPage}
          onClick={() => setCursors([...cursors, txns?.pageInfo.endCursor ?? null])}
        >
          Older
        </button>
      </nav>

      <h2 id="deposits-title">Deposits</h2>
      {nodes(u.deposits).length === 0 ? (
        <Empty>No deposit.</Empty>
      ) : (
        <div className="table-wrap">
          <table aria-labelledby="deposits-title">
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Amount</th>
                <th scope="col">Status</th>
                <th scope="col">Method</th>
              </tr>
            </thead>
            <tbody>
              {nodes(u.deposits).map((d) => (
                <tr key={d.id}>
                  <td>
                    <When value={d.createdAt} />
                  </td>
                  <td className="num">
                    <Money value={d.amount} />
                  </td>
                  <td>
                    {d.status}
                    {d.failureReason ? ` (${d.failureReason})` : ''}
                  </td>
                  <td>{d.method}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}

      <h2 id="withdrawals-title">Withdrawals</h2>
      {nodes(u.withdrawals).length === 0 ? (
        <Empty>No withdrawal.</Empty>
      ) : (
        <div className="table-wrap">
          <table aria-labelledby="withdrawals-title">
            <thead>
              <tr>
                <th scope="col">Requested</th>
                <th scope="col">Amount</th>
                <th scope="col">Status</th>
              </tr>
            </thead>
            <tbody>
              {nodes(u.withdrawals).map((w) => (
                <tr key={w.id}>
                  <td>
                    <When value={w.requestedAt} />
                  </td>
                  <td className="num">
                    <Money value={w.amount} />
                  </td>
                  <td>
                    {w.status}
                    {w.failureReason ? ` (${w.failureReason})` : ''}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}

      <h2 id="disputes-title">Disputes</h2>
      {nodes(u.disputes).length === 0 ? (
        <Empty>No dispute.</Empty>
      ) : (
        <ul className="plain" aria-labelledby="disputes-title">
          {nodes(u.disputes).map((d) => (
            <li key={d.id}>
              <Link to={`/disputes/${d.id}`}>{d.contract.job.title}</Link> · {d.status} · <When value={d.createdAt} /> · customer{' '}
              <UserLink user={d.contract.customer} />, contractor <UserLink user={d.contract.contractor} />
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function Wallet({ userId, wallet: w }: { userId: string; wallet: WalletFieldsFragment & { frozenNote: string | null } }) {
  const [freeze, freezing] = useMutation(FreezeWalletDocument);
  const [unfreeze, unfreezing] = useMutation(UnfreezeWalletDocument);
  const reasonId = useId();

  function submitFreeze(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = e.currentTarget;
    const reason = String(new FormData(form).get('reason'));
    void freeze({ variables: { userId, reason } }).then(
      () => form.reset(),
      () => undefined,
    );
  }

  return (
    <section aria-labelledby="wallet-title" className="card wallet" data-testid="wallet">
      <h2 id="wallet-title">Wallet</h2>
      <dl className="pairs">
        <dt>Balance</dt>
        <dd data-testid="wallet-balance">
          <Money value={w.balance} />
        </dd>
        <dt>In escrow</dt>
        <dd data-testid="wallet-escrow">
          <Money value={w.escrowBalance} />
        </dd>
        <dt>Pending deposits</dt>
        <dd>
          <Money value={w.pendingDeposits} />
        </dd>
        <dt>Owed</dt>
        <dd data-testid="wallet-owed">
          <Money value={w.amountOwed} />
        </dd>
        <dt>Frozen</dt>
        <dd data-testid="wallet-frozen">
          {w.isFrozen ? `Yes, for ${w.frozenReason}${w.frozenNote ? `: ${w.frozenNote}` : ''}` : 'No'}
        </dd>
      </dl>
      {w.isFrozen ? (
        <button type="button" disabled={unfreezing.loading} onClick={() => unfreeze({ variables: { userId } }).catch(() => undefined)}>
          {unfreezing.loading ? 'Unfreezing…' : 'Unfreeze wallet'}
        </button>
      ) : (
        <form onSubmit={submitFreeze} className="inline" aria-label="Freeze wallet">
          <label htmlFor={reasonId}>Reason for freezing (for admins)</label>
          <input id={reasonId} name="reason" required maxLength={500} />
          <button type="submit" className="danger" disabled={freezing.loading}>
            {freezing.loading ? 'Freezing…' : 'Freeze wallet'}
          </button>
        </form>
      )}
      <Refusal error={freezing.error ?? unfreezing.error} />
    </section>
  );
}

/** direction is "+" for money that came to the user, "−" for money that left, nothing for a move between their own accounts. */
function direction(t: { from: { id: string } | null; to: { id: string } | null }, userId: string): string {
  const into = t.to?.id === userId;
  const out = t.from?.id === userId;
  return into === out ? '' : into ? '+' : '−';
}
