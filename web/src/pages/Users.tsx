import { useQuery } from '@apollo/client';
import { useId } from 'react';
import type { FormEvent } from 'react';
import { Link, useSearchParams } from 'react-router';

import { ListUsersDocument } from '../gql/graphql';
import { Empty, Loading, nodes, queuePage, Refusal, When } from '../ui';

/** Users: find a user by id, email or name (the search is in the address, so it survives a reload). */
export function Users() {
  const [params, setParams] = useSearchParams();
  const search = params.get('q') ?? '';
  const searchId = useId();
  const { data, error } = useQuery(ListUsersDocument, { variables: { search: search || null, first: queuePage.users } });
  const rows = nodes(data?.users);

  function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    setParams({ q: String(new FormData(e.currentTarget).get('q')).trim() });
  }

  return (
    <section aria-labelledby="users-title">
      <h1 id="users-title">Users</h1>
      <form role="search" onSubmit={submit} className="inline">
        <label htmlFor={searchId}>Search by id, email or name</label>
        <input id={searchId} name="q" type="search" defaultValue={search} key={search} />
        <button type="submit">Search</button>
      </form>
      <Refusal error={error} />
      {!data ? (
        <Loading what="users" />
      ) : rows.length === 0 ? (
        <Empty>No user matches.</Empty>
      ) : (
        <div className="table-wrap">
          <table>
            <caption>
              {data.users.totalCount} user{data.users.totalCount === 1 ? '' : 's'}
              {rows.length < data.users.totalCount ? ` (the newest ${rows.length})` : ''}
            </caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Email</th>
                <th scope="col">Role</th>
                <th scope="col">Joined</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((u) => (
                <tr key={u.id}>
                  <td>
                    <Link to={`/users/${u.id}`}>{u.name}</Link>
                  </td>
                  <td>{u.email}</td>
                  <td>{u.role}</td>
                  <td>
                    <When value={u.createdAt} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
