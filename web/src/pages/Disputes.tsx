import { useLazyQuery, useMutation, useQuery } from '@apollo/client';
import { useId, useState } from 'react';
import type { FormEvent } from 'react';
import { Link, useParams } from 'react-router';

import { DisputeDocument, ListDisputesDocument, PreviewDisputeSplitDocument, ResolveDisputeDocument } from '../gql/graphql';
import type { DisputeFieldsFragment, DisputeMessageFieldsFragment } from '../gql/graphql';
import { useQueueChanges } from '../live';
import { Cards, Empty, Loading, Money, nodes, queuePage, Refusal, UserLink, When } from '../ui';

/** Disputes: the OPEN ones, oldest first (the API's order), each opening its thread. */
export function Disputes() {
  const { data, error, refetch } = useQuery(ListDisputesDocument, { variables: { first: queuePage.disputes, status: 'OPEN' } });
  useQueueChanges(['DISPUTES'], () => void refetch());
  return (
    <section aria-labelledby="disputes-title">
      <h1 id="disputes-title">Open disputes</h1>
      <p className="muted">Oldest first.</p>
      <Refusal error={error} />
      <Cards label="Disputes" what="disputes" empty="No dispute is open." loaded={!!data} items={nodes(data?.disputes)} total={data?.disputes.totalCount}>
        {(d) => (
          <li className="card" key={d.id} data-testid={`dispute-${d.id}`}>
            <h2>
              <Link to={`/disputes/${d.id}`}>{d.contract.job.title}</Link>
            </h2>
            <p>
              {reasons[d.reason]} · opened by <UserLink user={d.openedBy} /> <When value={d.createdAt} />
            </p>
            <p>
              Escrow <Money value={d.contract.escrow.amount} />
              {d.latestProposal && (
                <>
                  {' '}
                  · latest proposal: <Money value={d.latestProposal.contractorAmount} /> to the contractor
                </>
              )}
            </p>
          </li>
        )}
      </Cards>
    </section>
  );
}

const reasons: Record<DisputeFieldsFragment['reason'], string> = {
  NOT_DELIVERED: 'Not delivered',
  QUALITY: 'Quality',
  NOT_AS_DESCRIBED: 'Not as described',
  UNRESPONSIVE: 'Unresponsive',
  OTHER: 'Other',
};

/** DisputeThread: one dispute's evidence, its latest proposal, and the admin's resolution. */
export function DisputeThread() {
  const { id = '' } = useParams();
  const { data, error, refetch } = useQuery(DisputeDocument, { variables: { id, first: queuePage.messages } });
  useQueueChanges(['DISPUTES'], (itemId) => {
    if (itemId === null || itemId === id) void refetch();
  });
  const d = data?.dispute;
  if (error) return <Refusal error={error} />;
  if (!data) return <Loading what="the dispute" />;
  if (!d) return <Empty>No such dispute.</Empty>;
  const c = d.contract;
  const messages = nodes(d.messages);
  return (
    <section aria-labelledby="dispute-title">
      <p>
        <Link to="/disputes">← Open disputes</Link>
      </p>
      <h1 id="dispute-title">Dispute: {c.job.title}</h1>
      <dl className="pairs">
        <dt>Status</dt>
        <dd data-testid="dispute-status">{d.status}</dd>
        <dt>Reason</dt>
        <dd>{reasons[d.reason]}</dd>
        <dt>Customer</dt>
        <dd>
          <UserLink user={c.customer} />
        </dd>
        <dt>Contractor</dt>
        <dd>
          <UserLink user={c.contractor} />
        </dd>
        <dt>Escrow</dt>
        <dd>
          <Money value={c.escrow.amount} /> ({c.escrow.status}, funded by {c.escrow.fundingSource.toLowerCase()}; platform fee{' '}
          <Money value={c.escrow.platformFee} />)
        </dd>
        <dt>Respond by</dt>
        <dd>
          <When value={d.respondBy} />
        </dd>
        {d.latestProposal && (
          <>
            <dt>Latest proposal</dt>
            <dd>
              <Money value={d.latestProposal.contractorAmount} /> to the contractor, by <UserLink user={d.latestProposal.proposedBy} />{' '}
              <When value={d.latestProposal.createdAt} />
            </dd>
          </>
        )}
        {d.status === 'SETTLED' && (
          <>
            <dt>Settled</dt>
            <dd data-testid="dispute-outcome">
              <Money value={d.contractorAmount} /> to the contractor, <Money value={d.customerRefund} /> back to the customer (by{' '}
              {d.settledBy?.toLowerCase()})
            </dd>
          </>
        )}
      </dl>
      <h2>Thread</h2>
      <ol className="thread" aria-label="Messages">
        <li>
          <p className="meta">
            <UserLink user={d.openedBy} /> opened it <When value={d.createdAt} />
          </p>
          <p>{d.description}</p>
        </li>
        {messages.map((m) => (
          <Message key={m.id} message={m} />
        ))}
      </ol>
      {messages.length < d.messages.totalCount && (
        <p className="muted">The first {messages.length} of {d.messages.totalCount} messages.</p>
      )}
      {d.status === 'OPEN' && <Resolve dispute={d} />}
    </section>
  );
}

function Message({ message: m }: { message: DisputeMessageFieldsFragment }) {
  return (
    <li>
      <p className="meta">
        <UserLink user={m.author} /> <When value={m.createdAt} />
      </p>
      <p>{m.body}</p>
      {m.attachments.length > 0 && (
        <ul className="attachments" aria-label="Attachments">
          {m.attachments.map((a) => (
            <li key={a.id}>
              {a.mediaType === 'IMAGE' ? (
                <a href={a.mediaUrl} target="_blank" rel="noreferrer">
                  <img src={a.mediaUrl} alt={`Image attached by ${m.author.name}`} loading="lazy" />
                </a>
              ) : (
                <a href={a.mediaUrl} target="_blank" rel="noreferrer">
                  Video ({Math.round(a.bytes / 1024)} KiB)
                </a>
              )}
            </li>
          ))}
        </ul>
      )}
    </li>
  );
}

/**
 * Resolve settles the dispute with a split, in two steps: the server's
 * preview of what each side gets (the same computation the settlement
 * makes), then the confirmation.
 */
function Resolve({ dispute: d }: { dispute: DisputeFieldsFragment }) {
  const [preview, previewed] = useLazyQuery(PreviewDisputeSplitDocument, { fetchPolicy: 'network-only' });
  const [resolve, resolved] = useMutation(ResolveDisputeDocument);
  const [asked, setAsked] = useState<{ amount: string; note: string } | null>(null);
  const amountId = useId();
  const noteId = useId();
  const split = asked && previewed.data?.disputeSplitPreview;

  function submitPreview(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    const next = { amount: String(form.get('amount')).trim(), note: String(form.get('note')) };
    setAsked(null);
    void preview({ variables: { disputeId: d.id, contractorAmount: next.amount } }).then((r) => {
      if (r.data) setAsked(next);
    });
  }

  return (
    <section aria-labelledby="resolve-title" className="resolve">
      <h2 id="resolve-title">Resolve with a split</h2>
      <form onSubmit={submitPreview} aria-label="Resolve dispute">
        <label htmlFor={amountId}>Contractor's share of the {d.contract.escrow.amount} escrow</label>
        <input
          id={amountId}
          name="amount"
          inputMode="decimal"
          required
          pattern="\d+(\.\d{1,2})?"
          defaultValue={d.latestProposal?.contractorAmount ?? ''}
          onChange={() => setAsked(null)}
        />
        <label htmlFor={noteId}>Note (why; the parties see it)</label>
        <textarea id={noteId} name="note" required maxLength={500} rows={2} onChange={() => setAsked(null)} />
        <button type="submit" className="secondary" disabled={previewed.loading}>
          {previewed.loading ? 'Computing…' : 'Preview split'}
        </button>
      </form>
      <Refusal error={previewed.error} />
      {split && (
        <div className="preview" role="region" aria-label="Split preview">
          <table>
            <caption>What the settlement pays</caption>
            <tbody>
              <Row label="Contractor's share" value={split.contractorAmount} />
              <Row label="Service fee (to the platform)" value={split.serviceFee} />
              <Row label="Contractor receives" value={split.contractorPayout} />
              <Row label="Customer's refund from the escrow" value={split.customerRefund} />
              <Row label="Platform fee kept" value={split.platformFeeKept} />
              <Row label="Platform fee refunded to the customer" value={split.platformFeeRefunded} />
            </tbody>
          </table>
          <button
            type="button"
            className="danger"
            disabled={resolved.loading}
            onClick={() =>
              resolve({ variables: { input: { disputeId: d.id, contractorAmount: asked.amount, note: asked.note } } }).catch(() => undefined)
            }
          >
            {resolved.loading ? 'Settling…' : `Confirm: settle with ${split.contractorAmount} to the contractor`}
          </button>
        </div>
      )}
      <Refusal error={resolved.error} />
    </section>
  );
}

function Row({ label, value }: { label: string; value: string }) {
  return (
    <tr>
      <th scope="row">{label}</th>
      <td>
        <Money value={value} />
      </td>
    </tr>
  );
}
