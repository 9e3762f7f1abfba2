// Small pieces every page uses: money and times as the API gives them,
// the server's own message for a refused action, a user's link.
import { ApolloError } from '@apollo/client';
import type { ReactNode } from 'react';
import { Link } from 'react-router';

/** Money shows an exact Decimal string ("1234.50") with its digits grouped; no float ever touches it. */
export function Money({ value }: { value: string | null | undefined }) {
  if (value == null) return <span className="muted">—</span>;
  const negative = value.startsWith('-');
  const [whole, fraction] = value.replace('-', '').split('.');
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return (
    <span className="money">
      {negative ? '−' : ''}${grouped}
      {fraction !== undefined ? `.${fraction}` : ''}
    </span>
  );
}

export function When({ value }: { value: string | null | undefined }) {
  if (!value) return <span className="muted">—</span>;
  const d = new Date(value);
  return <time dateTime={value}>{d.toISOString().replace('T', ' ').slice(0, 16)} UTC</time>;
}

/** message is what the server said about a failed operation (its first error), else the network's error. */
export function message(err: unknown): string {
  if (err instanceof ApolloError) {
    if (err.graphQLErrors.length > 0) return err.graphQLErrors.map((e) => e.message).join('; ');
    if (err.networkError) return `The server could not be reached: ${err.networkError.message}`;
    return err.message;
  }
  return err instanceof Error ? err.message : String(err);
}

/** Refusal shows the server's message for a refused or failed action, announced to screen readers. */
export function Refusal({ error }: { error: unknown }) {
  if (!error) return null;
  return (
    <p className="refusal" role="alert">
      {message(error)}
    </p>
  );
}

export function UserLink({ user }: { user: { id: string; name: string } }) {
  return <Link to={`/users/${user.id}`}>{user.name}</Link>;
}

export function Loading({ what }: { what: string }) {
  return (
    <p className="muted" role="status">
      Loading {what}…
    </p>
  );
}

/** Empty says a queue or list has nothing in it. */
export function Empty({ children }: { children: string }) {
  return <p className="empty">{children}</p>;
}

/**
 * queuePage is how many items each list asks for: what fits the API's
 * complexity limit (GRAPHQL_MAX_COMPLEXITY, 1000 by default) with the
 * fields the page shows. A queue is worked from its head; the rest moves
 * up as items are done.
 */
export const queuePage = { releases: 10, withdrawals: 20, disputes: 8, frozen: 20, users: 40, messages: 25, transactions: 15, userLists: 10, chargebacks: 20 };

/** More says how many of a list's items are not shown. */
export function More({ shown, total }: { shown: number; total: number | undefined }) {
  if (total === undefined || total <= shown) return null;
  return (
    <p className="muted">
      Showing the first {shown} of {total}; the others move up as these are done.
    </p>
  );
}

/** nodes are a connection's items (edges and nodes are nullable in Relay's shape). */
export function nodes<T>(c: { edges?: ({ node?: T | null } | null)[] | null } | null | undefined): T[] {
  return c?.edges?.flatMap((e) => (e?.node ? [e.node] : [])) ?? [];
}

/**
 * Cards shows a queue: loading, empty, or its items as cards (children
 * renders one, with its key), and how many more there are.
 */
export function Cards<T>(props: { label: string; what: string; empty: string; loaded: boolean; items: T[]; total?: number; children: (item: T) => ReactNode }) {
  if (!props.loaded) return <Loading what={props.what} />;
  if (props.items.length === 0) return <Empty>{props.empty}</Empty>;
  return (
    <>
      <ul className="cards" aria-label={props.label}>
        {props.items.map(props.children)}
      </ul>
      <More shown={props.items.length} total={props.total} />
    </>
  );
}
