/**
 * The panel's state and the reducer that moves it; pure, so every
 * transition is unit-tested without a browser or a server.
 */

import { badgeKind } from './format';
import { IBackend, ISandbox, ISnapshot } from './types';

export type ItemKind = 'snapshot' | 'sandbox';

export interface IPanelState {
  backend: IBackend | null;
  snapshots: ISnapshot[];
  sandboxes: ISandbox[];
  /** A refresh is in flight. */
  loading: boolean;
  /** The last refresh failed: the Jupyter server or a route answered an error. */
  error: string | null;
  /** Failed refreshes in a row (an unreachable backend counts): drives backoff. */
  failures: number;
  /** Items with a delete or kill in flight, as itemKey() strings. */
  pending: string[];
  /** The message of the last failed delete or kill, shown until the next one. */
  actionError: string | null;
  /** Epoch ms of the last finished refresh. */
  refreshedAt: number | null;
}

export type Action =
  | { type: 'refresh-start' }
  | {
      type: 'refresh-done';
      backend: IBackend;
      snapshots: ISnapshot[];
      sandboxes: ISandbox[];
      at: number;
    }
  | { type: 'refresh-failed'; message: string; at: number }
  | { type: 'retry' }
  | { type: 'remove-start'; kind: ItemKind; key: string }
  | { type: 'remove-done'; kind: ItemKind; key: string }
  | { type: 'action-done'; kind: ItemKind; key: string }
  | { type: 'remove-failed'; kind: ItemKind; key: string; message: string };

export const initialState: IPanelState = {
  backend: null,
  snapshots: [],
  sandboxes: [],
  loading: false,
  error: null,
  failures: 0,
  pending: [],
  actionError: null,
  refreshedAt: null
};

export function itemKey(kind: ItemKind, key: string): string {
  return `${kind}:${key}`;
}

function without(state: IPanelState, kind: ItemKind, key: string): IPanelState {
  if (kind === 'snapshot') {
    return { ...state, snapshots: state.snapshots.filter(s => s.name !== key) };
  }
  return { ...state, sandboxes: state.sandboxes.filter(s => s.id !== key) };
}

export function reduce(state: IPanelState, action: Action): IPanelState {
  switch (action.type) {
    case 'refresh-start':
      return { ...state, loading: true };
    case 'refresh-done': {
      const reachable = action.backend.reachable;
      const next: IPanelState = {
        ...state,
        backend: action.backend,
        // Lists from an unreachable backend would be stale; show none.
        snapshots: reachable ? action.snapshots : [],
        sandboxes: reachable ? action.sandboxes : [],
        loading: false,
        error: null,
        failures: reachable ? 0 : state.failures + 1,
        refreshedAt: action.at
      };
      // A refresh that started before a delete finished may still list it.
      return state.pending.reduce((acc, p) => {
        const [kind, ...rest] = p.split(':');
        return without(acc, kind as ItemKind, rest.join(':'));
      }, next);
    }
    case 'refresh-failed':
      return {
        ...state,
        loading: false,
        error: action.message,
        failures: state.failures + 1,
        refreshedAt: action.at
      };
    case 'retry':
      return { ...state, failures: 0, error: null };
    case 'remove-start':
      return {
        ...state,
        actionError: null,
        pending: [...state.pending, itemKey(action.kind, action.key)]
      };
    case 'remove-done':
      return without(
        {
          ...state,
          pending: state.pending.filter(
            p => p !== itemKey(action.kind, action.key)
          )
        },
        action.kind,
        action.key
      );
    case 'action-done':
      return {
        ...state,
        pending: state.pending.filter(
          p => p !== itemKey(action.kind, action.key)
        )
      };
    case 'remove-failed':
      return {
        ...state,
        actionError: action.message,
        pending: state.pending.filter(
          p => p !== itemKey(action.kind, action.key)
        )
      };
  }
}

export function isPending(
  state: IPanelState,
  kind: ItemKind,
  key: string
): boolean {
  return state.pending.includes(itemKey(kind, key));
}

/** Something is building, so its status is worth watching closely. */
export function isBusy(state: IPanelState): boolean {
  return (
    state.snapshots.some(s => badgeKind(s.status) === 'building') ||
    state.sandboxes.some(s => badgeKind(s.status) === 'building')
  );
}
