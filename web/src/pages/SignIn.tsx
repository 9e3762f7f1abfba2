import { useMutation } from '@apollo/client';
import { useState } from 'react';
import type { FormEvent } from 'react';

import { LoginDocument } from '../gql/graphql';
import { fromPayload, revoke, setSession } from '../session';
import { Refusal } from '../ui';

/**
 * SignIn signs an admin in. Anyone else is told this console is not for
 * them, and the session the API just made is revoked at once: nothing is
 * kept.
 */
export function SignIn({ ended }: { ended: boolean }) {
  const [login, { loading, error }] = useMutation(LoginDocument);
  const [refused, setRefused] = useState<string | null>(null);

  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    setRefused(null);
    const form = new FormData(e.currentTarget);
    const { data } = await login({
      variables: { input: { email: String(form.get('email')), password: String(form.get('password')) } },
    }).catch(() => ({ data: null }));
    if (!data) return;
    if (data.login.user.role !== 'ADMIN') {
      await revoke(data.login.tokens.refreshToken);
      setRefused(`This console is for admins. ${data.login.user.email ?? 'This account'} is a ${data.login.user.role.toLowerCase()} account, so you were not signed in.`);
      return;
    }
    setSession(fromPayload(data.login));
  }

  return (
    <main className="signin">
      <h1>JobSphere console</h1>
      <p className="muted">For the marketplace's admins: approvals, disputes, frozen wallets and users.</p>
      {ended && !refused && !error && <p role="status">Your session ended. Sign in again.</p>}
      <form onSubmit={submit} aria-label="Sign in">
        <label htmlFor="email">Email</label>
        <input id="email" name="email" type="email" autoComplete="username" required />
        <label htmlFor="password">Password</label>
        <input id="password" name="password" type="password" autoComplete="current-password" required />
        <button type="submit" disabled={loading}>
          {loading ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
      <Refusal error={error} />
      {refused && (
        <p className="refusal" role="alert">
          {refused}
        </p>
      )}
    </main>
  );
}
