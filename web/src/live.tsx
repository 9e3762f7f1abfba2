// The admins' queues, live: one adminQueueChanged subscription for the
// whole console, handed to the pages that show each queue. A page names
// the queues it shows and what to do (refetch) when one changes; after the
// websocket reconnects every page refetches, since events may have been
// missed meanwhile.
import { useSubscription } from '@apollo/client';
import { createContext, useContext, useEffect, useRef, useState } from 'react';
import type { ReactNode } from 'react';

import { onResync } from './apollo';
import { OnAdminQueueChangedDocument } from './gql/graphql';
import type { AdminQueue } from './gql/graphql';

type Listener = (queue: AdminQueue | null, itemId: string | null) => void;

class QueueEvents {
  private listeners = new Set<Listener>();
  listen(fn: Listener) {
    this.listeners.add(fn);
    return () => {
      this.listeners.delete(fn);
    };
  }
  emit(queue: AdminQueue | null, itemId: string | null) {
    for (const fn of this.listeners) fn(queue, itemId);
  }
}

const Events = createContext<QueueEvents | null>(null);
const Live = createContext(false);

export function LiveQueues({ children }: { children: ReactNode }) {
  const [events] = useState(() => new QueueEvents());
  const { error } = useSubscription(OnAdminQueueChangedDocument, {
    onData: ({ data }) => {
      const ev = data.data?.adminQueueChanged;
      // ALL: events may have been missed, every page refetches.
      if (ev?.queue === 'ALL') events.emit(null, null);
      else if (ev) events.emit(ev.queue, ev.itemId);
    },
  });
  useEffect(() => onResync(() => events.emit(null, null)), [events]);
  return (
    <Events.Provider value={events}>
      <Live.Provider value={!error}>{children}</Live.Provider>
    </Events.Provider>
  );
}

/** useLive reports whether queue events are arriving (the subscription has not failed). */
export function useLive(): boolean {
  return useContext(Live);
}

/**
 * useQueueChanges calls onChange when one of queues changes (every queue
 * when queues is "all"), and after a reconnect.
 */
export function useQueueChanges(queues: AdminQueue[] | 'all', onChange: (itemId: string | null) => void): void {
  const events = useContext(Events);
  const handler = useRef(onChange);
  handler.current = onChange;
  const key = queues === 'all' ? 'all' : queues.join(',');
  useEffect(() => {
    if (!events) return;
    return events.listen((queue, itemId) => {
      if (queue === null || key === 'all' || key.split(',').includes(queue)) handler.current(itemId);
    });
  }, [events, key]);
}
