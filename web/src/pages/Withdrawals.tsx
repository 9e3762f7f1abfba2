import { useMutation, useQuery } from '@apollo/client';
import { useId, useState } from 'react';
import type { FormEvent } from 'react';

import { ApproveWithdrawalDocument, ListWithdrawalsDocument, RejectWithdrawalDocument } from '../gql/graphql';
import type { WithdrawalFieldsFragment } from '../gql/graphql';
import { useQueueChanges } from '../live';
import { Cards, Money, nodes, queuePage, Refusal, UserLink, When } from '../ui';

/** Withdrawals: PENDING payouts, for an admin to approve (the transfer is made) or reject with a reason. */
export function Withdrawals() {
  const { data, error, refetch } = useQuery(ListWithdrawalsDocument, { variables: { first: queuePage.withdrawals, status: 'PENDING' } });
  useQueueChanges(['WITHDRAWALS'], () => void refetch());
  return (
    <section aria-labelledby="withdrawals-title">
      <h1 id="withdrawals-title">Withdrawals awaiting approval</h1>
      <Refusal error={error} />
      <Cards label="Withdrawals" what="withdrawals" empty="No withdrawal is waiting." loaded={!!data} items={nodes(data?.withdrawals)} total={data?.withdrawals.totalCount}>
        {(w) => <Withdrawal key={w.id} withdrawal={w} />}
      </Cards>
    </section>
  );
}

function Withdrawal({ withdrawal: w }: { withdrawal: WithdrawalFieldsFragment }) {
  const [approve, approving] = useMutation(ApproveWithdrawalDocument);
  const [reject, rejecting] = useMutation(RejectWithdrawalDocument);
  const [rejectOpen, setRejectOpen] = useState(false);
  const reasonId = useId();
  const busy = approving.loading || rejecting.loading;

  function submitReject(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const reason = String(new FormData(e.currentTarget).get('reason'));
    void reject({ variables: { id: w.id, reason } }).catch(() => undefined);
  }

  return (
    <li className="card" data-testid={`withdrawal-${w.id}`}>
      <h2>
        <Money value={w.amount} /> to <UserLink user={w.user} />
      </h2>
      <p className="muted">
        Requested <When value={w.requestedAt} />
      </p>
      <div className="actions">
        <button type="button" disabled={busy} onClick={() => approve({ variables: { id: w.id } }).catch(() => undefined)}>
          {approving.loading ? 'Approving…' : 'Approve withdrawal'}
        </button>
        <button type="button" className="secondary" aria-expanded={rejectOpen} onClick={() => setRejectOpen(!rejectOpen)}>
          Reject…
        </button>
      </div>
      {rejectOpen && (
        <form onSubmit={submitReject} className="inline" aria-label="Reject withdrawal">
          <label htmlFor={reasonId}>Reason for rejecting (the contractor sees it)</label>
          <input id={reasonId} name="reason" required maxLength={500} />
          <button type="submit" className="danger" disabled={busy}>
            {rejecting.loading ? 'Rejecting…' : 'Reject withdrawal'}
          </button>
        </form>
      )}
      <Refusal error={approving.error ?? rejecting.error} />
    </li>
  );
}
