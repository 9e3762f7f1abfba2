import { useMutation, useQuery } from '@apollo/client';

import { ListFrozenWalletsDocument, UnfreezeWalletDocument } from '../gql/graphql';
import type { ListFrozenWalletsQuery } from '../gql/graphql';
import { useQueueChanges } from '../live';
import { Empty, Loading, Money, More, queuePage, Refusal, UserLink } from '../ui';

type FrozenWallet = NonNullable<NonNullable<NonNullable<ListFrozenWalletsQuery['frozenWallets']['edges']>[number]>['node']>;

/** Frozen: every wallet frozen now; an admin's freeze can be lifted here, a chargeback's lifts itself. */
export function Frozen() {
  const { data, error, refetch } = useQuery(ListFrozenWalletsDocument, { variables: { first: queuePage.frozen } });
  useQueueChanges(['FROZEN_WALLETS'], () => void refetch());
  const rows = data?.frozenWallets.edges?.flatMap((e) => (e?.node ? [e.node] : [])) ?? [];
  return (
    <section aria-labelledby="frozen-title">
      <h1 id="frozen-title">Frozen wallets</h1>
      <Refusal error={error} />
      {!data ? (
        <Loading what="frozen wallets" />
      ) : rows.length === 0 ? (
        <Empty>No wallet is frozen.</Empty>
      ) : (
        <ul className="cards" aria-label="Frozen wallets">
          {rows.map((w) => (
            <FrozenCard key={w.id} wallet={w} />
          ))}
        </ul>
      )}
      <More shown={rows.length} total={data?.frozenWallets.totalCount} />
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
