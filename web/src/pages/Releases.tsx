import { useMutation, useQuery } from '@apollo/client';

import { ApproveFundReleaseDocument, ListContractsDocument } from '../gql/graphql';
import type { ContractWithEscrowFragment } from '../gql/graphql';
import { useQueueChanges } from '../live';
import { Cards, Money, nodes, queuePage, Refusal, UserLink, When } from '../ui';

/** Releases: contracts whose customer asked for the escrow's release, for an admin to approve. */
export function Releases() {
  const { data, error, refetch } = useQuery(ListContractsDocument, {
    variables: { first: queuePage.releases, escrowStatus: 'RELEASE_REQUESTED' },
  });
  // A dispute opened on a requested release takes it out of this queue.
  useQueueChanges(['RELEASES', 'DISPUTES'], () => void refetch());
  return (
    <section aria-labelledby="releases-title">
      <h1 id="releases-title">Fund releases awaiting approval</h1>
      <Refusal error={error} />
      <Cards label="Releases" what="releases" empty="No release is waiting." loaded={!!data} items={nodes(data?.contracts)} total={data?.contracts.totalCount}>
        {(c) => <Release key={c.id} contract={c} />}
      </Cards>
    </section>
  );
}

function Release({ contract: c }: { contract: ContractWithEscrowFragment }) {
  const [approve, { loading, error }] = useMutation(ApproveFundReleaseDocument);
  const e = c.escrow;
  return (
    <li className="card" data-testid={`release-${c.id}`}>
      <h2>{c.job.title}</h2>
      <p>
        <UserLink user={c.customer} /> pays <UserLink user={c.contractor} />
      </p>
      <dl className="pairs">
        <dt>Escrow</dt>
        <dd>
          <Money value={e.amount} />
        </dd>
        <dt>Service fee</dt>
        <dd>
          <Money value={e.serviceFee} />
        </dd>
        <dt>Contractor receives</dt>
        <dd>
          <Money value={e.freelancerEarning} />
        </dd>
        <dt>Requested</dt>
        <dd>
          <When value={e.releaseRequestedAt} />
        </dd>
      </dl>
      <button type="button" disabled={loading} onClick={() => approve({ variables: { contractId: c.id } }).catch(() => undefined)}>
        {loading ? 'Approving…' : `Approve release of ${c.job.title}`}
      </button>
      <Refusal error={error} />
    </li>
  );
}
