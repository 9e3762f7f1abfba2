import { useApolloClient } from '@apollo/client';
import { useEffect, useState } from 'react';
import { NavLink, Route, Routes } from 'react-router';

import { LiveQueues, useLive } from './live';
import { AuditLog } from './pages/AuditLog';
import { Dashboard } from './pages/Dashboard';
import { Chargebacks } from './pages/Chargebacks';
import { Disputes, DisputeThread } from './pages/Disputes';
import { Frozen } from './pages/Frozen';
import { Releases } from './pages/Releases';
import { SignIn } from './pages/SignIn';
import { UserPage } from './pages/UserPage';
import { Users } from './pages/Users';
import { Withdrawals } from './pages/Withdrawals';
import { getSession, onSessionChange, signOut } from './session';
import type { Session } from './session';

// The console's pages.
const nav = [
  { to: '/', label: 'Dashboard', end: true },
  { to: '/releases', label: 'Releases' },
  { to: '/withdrawals', label: 'Withdrawals' },
  { to: '/disputes', label: 'Disputes' },
  { to: '/chargebacks', label: 'Chargebacks' },
  { to: '/frozen', label: 'Frozen wallets' },
  { to: '/users', label: 'Users' },
  { to: '/audit', label: 'Audit log' },
];

export function App() {
  const [session, setSession] = useState<Session | null>(getSession);
  const [ended, setEnded] = useState(false);
  const client = useApolloClient();
  useEffect(
    () =>
      onSessionChange((s, why) => {
        setSession(s);
        if (!s) {
          setEnded(why === 'expired');
          void client.clearStore();
        }
      }),
    [client],
  );
  if (!session) return <SignIn ended={ended} />;
  return (
    <LiveQueues>
      <Shell session={session} />
    </LiveQueues>
  );
}

function Shell({ session }: { session: Session }) {
  const live = useLive();
  return (
    <>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="top">
        <span className="brand">JobSphere console</span>
        <nav aria-label="Console">
          <ul>
            {nav.map((n) => (
              <li key={n.to}>
                <NavLink to={n.to} end={n.end}>
                  {n.label}
                </NavLink>
              </li>
            ))}
          </ul>
        </nav>
        <div className="who">
          <span className={live ? 'live' : 'offline'} role="status">
            {live ? 'Live' : 'Live updates interrupted'}
          </span>
          <span>{session.user.email}</span>
          <button type="button" className="secondary" onClick={() => void signOut()}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        <Routes>
          <Route index element={<Dashboard />} />
          <Route path="releases" element={<Releases />} />
          <Route path="withdrawals" element={<Withdrawals />} />
          <Route path="disputes" element={<Disputes />} />
          <Route path="disputes/:id" element={<DisputeThread />} />
          <Route path="chargebacks" element={<Chargebacks />} />
          <Route path="frozen" element={<Frozen />} />
          <Route path="users" element={<Users />} />
          <Route path="users/:id" element={<UserPage />} />
          <Route path="audit" element={<AuditLog />} />
          <Route path="*" element={<p>No such page.</p>} />
        </Routes>
      </main>
    </>
  );
}
