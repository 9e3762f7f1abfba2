import { useQuery } from '@apollo/client';
import { useState } from 'react';
import type { FormEvent } from 'react';

import { GetAuditLogDocument } from '../gql/graphql';
import { useQueueChanges } from '../live';
import { Empty, Loading, nodes, Refusal, UserLink, When } from '../ui';

const page = 20;

/** Audit log: every admin action, newest first, filtered by admin and by target. */
export function AuditLog() {
  const [filter, setFilter] = useState<{ actorId?: string; targetId?: string }>({});
  const { data, error, refetch } = useQuery(GetAuditLogDocument, { variables: { first: page, ...filter } });
  useQueueChanges('all', () => void refetch());
  const entries = nodes(data?.auditLog);

  function apply(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    const value = (name: string) => String(form.get(name) ?? '').trim() || undefined;
    setFilter({ actorId: value('actorId'), targetId: value('targetId') });
  }

  return (
    <section aria-labelledby="audit-title">
      <h1 id="audit-title">Audit log</h1>
      <form className="filters" onSubmit={apply} aria-label="Filter the audit log">
        <label>
          Admin (user id) <input name="actorId" autoComplete="off" />
        </label>
        <label>
          Target id <input name="targetId" autoComplete="off" />
        </label>
        <button type="submit">Filter</button>
      </form>
      <Refusal error={error} />
      {!data ? (
        <Loading what="the audit log" />
      ) : entries.length === 0 ? (
        <Empty>No admin action recorded yet.</Empty>
      ) : (
        <div className="table-wrap">
          <table aria-label="Admin actions, newest first">
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Admin</th>
                <th scope="col">Action</th>
                <th scope="col">Target</th>
                <th scope="col">Before → after</th>
                <th scope="col">Reason</th>
                <th scope="col">Request</th>
              </tr>
            </thead>
            <tbody>
              {entries.map((a) => (
                <tr key={a.id} data-testid={`audit-${a.action}`}>
                  <td>
                    <When value={a.createdAt} />
                  </td>
                  <td>
                    <UserLink user={a.actor} />
                  </td>
                  <td>{a.action}</td>
                  <td>
                    <code>{a.targetId}</code>
                  </td>
                  <td>
                    {a.before ?? '—'} → {a.after ?? '—'}
                  </td>
                  <td>{a.reason ?? ''}</td>
                  <td>
                    <code>{a.requestId ?? ''}</code>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {data && data.auditLog.totalCount > entries.length && (
        <p className="muted">
          Showing the newest {entries.length} of {data.auditLog.totalCount}; filter by admin or target to find older ones.
        </p>
      )}
    </section>
  );
}
