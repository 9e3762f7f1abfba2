import { useMutation, useQuery } from '@apollo/client';

import { ListFrozenWalletsDocument, UnfreezeWalletDocument } from '../gql/graphql';
import type { ListFrozenWalletsQuery } from '../gql/graphql';
import { useQueueChanges } from '../live';
import { Cards, Money, nodes, queuePage, Refusal, UserLink } from '../ui';

type FrozenWallet = NonNullable<NonNullable<NonNullable<ListFrozenWalletsQuery['frozenWallets']['edges']>[number]>['node']>;

/** Frozen: every wallet frozen now; an admin's freeze can be lifted here, a chargeback's lifts itself. */
export function Frozen() {
  const { data, error, refetch } = useQuery(ListFrozenWalletsDocument, { variables: { first: queuePage.frozen } });
  useQueueChanges(['FROZEN_WALLETS'], () => void refetch());
  return (
    <section aria-labelledby="frozen-title">
      <h1 id="frozen-title">Frozen wallets</h1>
      <Refusal error={error} />
      <Cards label="Frozen wallets" what="frozen wallets" empty="No wallet is frozen." loaded={!!data} items={nodes(data?.frozenWallets)} total={data?.frozenWallets.totalCount}>
        {(w) => <FrozenCard key={w.id} wallet={w} />}
      </Cards>
    </section>
  );
}

function FrozenCard({ wallet: w }: { wallet: FrozenWallet }) {
  const [unfreeze, { loading, error }] = useMutation(UnfreezeWalletDocument);
  return (
    <li className="card" data-testid={`frozen-${w.user.id}`}>
      <h2>
        <UserLink user={w.user} /> <span className="muted">{w.user.email}</span>
      </h2>
      <dl className="pairs">
        <dt>Reason</dt>
        <dd>{w.frozenReason}</dd>
        {w.frozenNote && (
          <>
            <dt>Admin's note</dt>
            <dd>{w.frozenNote}</dd>
          </>
        )}
        <dt>Balance</dt>
        <dd>
          <Money value={w.balance} />
        </dd>
        <dt>Owed</dt>
        <dd>
          <Money value={w.amountOwed} />
        </dd>
      </dl>
      <button type="button" disabled={loading} onClick={() => unfreeze({ variables: { userId: w.user.id } }).catch(() => undefined)}>
        {loading ? 'Unfreezing…' : `Unfreeze ${w.user.name}'s wallet`}
      </button>
      <Refusal error={error} />
    </li>
  );
}
