import { useMutation, useQuery } from '@apollo/client';

import { ListChargebacksDocument, ListFraudWarningsDocument, RefundDepositDocument } from '../gql/graphql';
import type { FraudWarningFieldsFragment } from '../gql/graphql';
import { useQueueChanges } from '../live';
import { Cards, Money, nodes, queuePage, Refusal, UserLink, When } from '../ui';

/**
 * Chargebacks: card disputes Stripe has not decided (they are answered in
 * Stripe's Dashboard; the ledger already took the money back) and early
 * fraud warnings, whose answer is refunding the deposit to its card.
 */
export function Chargebacks() {
  const chargebacks = useQuery(ListChargebacksDocument, { variables: { status: 'OPEN', first: queuePage.chargebacks } });
  const warnings = useQuery(ListFraudWarningsDocument, { variables: { first: queuePage.chargebacks } });
  // A refund to the card resolves the warning and lifts the freeze.
  useQueueChanges(['CHARGEBACKS', 'FROZEN_WALLETS'], () => {
    void chargebacks.refetch();
    void warnings.refetch();
  });
  const open = nodes(warnings.data?.fraudWarnings).filter((w) => !w.resolvedAt);
  return (
    <section aria-labelledby="chargebacks-title">
      <h1 id="chargebacks-title">Chargebacks and fraud warnings</h1>
      <h2 id="open-chargebacks">Open chargebacks</h2>
      <p className="muted">Answer each in Stripe's Dashboard before its deadline; the money is already taken back from the customer.</p>
      <Refusal error={chargebacks.error} />
      <Cards
        label="Open chargebacks"
        what="chargebacks"
        empty="No chargeback is open."
        loaded={!!chargebacks.data}
        items={nodes(chargebacks.data?.chargebacks)}
        total={chargebacks.data?.chargebacks.totalCount}
      >
        {(c) => (
          <li className="card" key={c.id} data-testid={`chargeback-${c.id}`}>
            <h3>
              <Money value={c.amount} /> disputed by <UserLink user={c.customer} />
            </h3>
            <dl className="pairs">
              <dt>Reason</dt>
              <dd>{c.reason}</dd>
              <dt>Dispute fee</dt>
              <dd>
                <Money value={c.fee} />
              </dd>
              <dt>Paid for</dt>
              <dd>
                {c.deposit ? (
                  <>
                    a deposit of <Money value={c.deposit.amount} />
                  </>
                ) : c.contract ? (
                  `a job paid by card (contract ${c.contract.status.toLowerCase()})`
                ) : (
                  '—'
                )}
              </dd>
              <dt>Stripe dispute</dt>
              <dd>{c.stripeDisputeId}</dd>
              <dt>Opened</dt>
              <dd>
                <When value={c.createdAt} />
              </dd>
            </dl>
          </li>
        )}
      </Cards>

      <h2 id="fraud-warnings">Early fraud warnings</h2>
      <p className="muted">The customer's wallet stays frozen until the warning is resolved: refund the payment to the card, or Stripe closes it.</p>
      <Refusal error={warnings.error} />
      <Cards label="Early fraud warnings" what="fraud warnings" empty="No fraud warning is open." loaded={!!warnings.data} items={open}>
        {(w) => <FraudWarning key={w.id} warning={w} />}
      </Cards>
    </section>
  );
}

function FraudWarning({ warning: w }: { warning: FraudWarningFieldsFragment }) {
  const [refund, { loading, error }] = useMutation(RefundDepositDocument);
  return (
    <li className="card" data-testid={`fraud-warning-${w.id}`}>
      <h3>
        {w.fraudType} on a payment by <UserLink user={w.customer} />
      </h3>
      <dl className="pairs">
        <dt>Paid for</dt>
        <dd>
          {w.deposit ? (
            <>
              a deposit of <Money value={w.deposit.amount} /> ({w.deposit.status.toLowerCase()}, <Money value={w.deposit.refundedAmount} /> refunded)
            </>
          ) : w.contract ? (
            `a job paid by card (contract ${w.contract.status.toLowerCase()})`
          ) : (
            '—'
          )}
        </dd>
        <dt>Stripe charge</dt>
        <dd>{w.stripeChargeId}</dd>
        <dt>Received</dt>
        <dd>
          <When value={w.createdAt} />
        </dd>
      </dl>
      {w.deposit && (
        <button type="button" className="danger" disabled={loading} onClick={() => refund({ variables: { depositId: w.deposit!.id } }).catch(() => undefined)}>
          {loading ? 'Refunding…' : 'Refund the deposit to the card'}
        </button>
      )}
      <Refusal error={error} />
    </li>
  );
}
