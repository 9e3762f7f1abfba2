// The signed-in admin's tokens: in memory, and in sessionStorage so that a
// reload keeps the session (a new tab or a closed browser does not). The
// access token is refreshed with the refresh token a minute before it
// expires, and on demand when the API answers UNAUTHENTICATED.
import { print } from 'graphql';

import { LogoutDocument, RefreshTokenDocument } from './gql/graphql';
import type { AuthPayloadFieldsFragment, RefreshTokenMutation } from './gql/graphql';

export type SessionUser = AuthPayloadFieldsFragment['user'];

export type Session = {
  accessToken: string;
  refreshToken: string;
  expiresAt: number; // ms since the epoch
  user: SessionUser;
};

const storageKey = 'jobsphere.console.session';
// Refresh a minute before the access token expires, or at two thirds of
// its life when it lives less than three minutes.
const refreshLead = 60_000;
const leadFor = (s: Session) => Math.min(refreshLead, (s.expiresAt - Date.now()) / 3);

let current: Session | null = load();
let timer: ReturnType<typeof setTimeout> | undefined;
let inflight: Promise<Session | null> | null = null;
/** Why the session changed: a new token, the admin's sign-out, or a refresh the API refused. */
export type SessionChange = 'changed' | 'signed-out' | 'expired';
const listeners = new Set<(s: Session | null, why: SessionChange) => void>();

function load(): Session | null {
  try {
    const raw = sessionStorage.getItem(storageKey);
    return raw ? (JSON.parse(raw) as Session) : null;
  } catch {
    return null;
  }
}

export function getSession(): Session | null {
  return current;
}

export function onSessionChange(fn: (s: Session | null, why: SessionChange) => void): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/** fromPayload is the session an AuthPayload (login, refreshToken) starts. */
export function fromPayload(p: AuthPayloadFieldsFragment): Session {
  return {
    accessToken: p.tokens.accessToken,
    refreshToken: p.tokens.refreshToken,
    expiresAt: Date.parse(p.tokens.accessTokenExpiresAt),
    user: p.user,
  };
}

export function setSession(s: Session | null, why: SessionChange = 'changed'): void {
  current = s;
  clearTimeout(timer);
  if (s) {
    sessionStorage.setItem(storageKey, JSON.stringify(s));
    timer = setTimeout(() => void refresh(), Math.max(s.expiresAt - Date.now() - leadFor(s), 500));
  } else {
    sessionStorage.removeItem(storageKey);
  }
  for (const fn of listeners) fn(s, why);
}

/** post sends one operation without Apollo (the token calls must not loop through its auth handling). */
async function post<T>(query: string, variables: Record<string, unknown>): Promise<T> {
  const res = await fetch('/graphql', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as { data?: T; errors?: { message: string }[] };
  if (body.errors?.length || !body.data) throw new Error(body.errors?.[0]?.message ?? `HTTP ${res.status}`);
  return body.data;
}

/**
 * refresh trades the refresh token for a new pair; concurrent callers
 * share one request (each refresh token works once). A refused refresh
 * ends the session.
 */
export function refresh(): Promise<Session | null> {
  const s = current;
  if (!s) return Promise.resolve(null);
  inflight ??= post<RefreshTokenMutation>(print(RefreshTokenDocument), { refreshToken: s.refreshToken })
    .then((data) => {
      const next = fromPayload(data.refreshToken);
      setSession(next);
      return next;
    })
    .catch(() => {
      setSession(null, 'expired');
      return null;
    })
    .finally(() => {
      inflight = null;
    });
  return inflight;
}

/** fresh is the session with an access token still valid for a while, refreshed first if need be. */
export async function fresh(): Promise<Session | null> {
  const s = current;
  if (s && s.expiresAt - Date.now() < 1_000) return refresh(); // expired meanwhile (a sleeping laptop)
  return s;
}

/** signOut revokes the refresh token (and every one rotated from it) and forgets the session. */
export async function signOut(): Promise<void> {
  const s = current;
  setSession(null, 'signed-out');
  if (s) await revoke(s.refreshToken);
}

/** revoke ends a session that must not be kept (a non-admin's sign-in). */
export async function revoke(refreshToken: string): Promise<void> {
  await post(print(LogoutDocument), { refreshToken }).catch(() => undefined);
}

if (current) setSession(current); // schedules the refresh of a reloaded session
