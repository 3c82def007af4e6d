import { describe, expect, it } from 'vitest';

import { initialState, IPanelState, isBusy, isPending, reduce } from '../state';
import { IBackend, ISandbox, ISnapshot } from '../types';

const up: IBackend = {
  kind: 'local',
  url: 'http://127.0.0.1:9000',
  reachable: true,
  message: 'ok'
};
const down: IBackend = { ...up, reachable: false, message: 'Not running.' };

function snap(name: string, status = 'ready'): ISnapshot {
  return {
    name,
    status,
    contentHash: 'ab'.repeat(32),
    createdAt: '2026-01-01T00:00:00Z',
    lastUsedAt: null
  };
}

function box(id: string, status = 'running'): ISandbox {
  return { id, status, madeFrom: 'snapshot demo', createdAt: null };
}

function loaded(
  snapshots: ISnapshot[],
  sandboxes: ISandbox[] = []
): IPanelState {
  return reduce(initialState, {
    type: 'refresh-done',
    backend: up,
    snapshots,
    sandboxes,
    at: 1
  });
}

describe('refresh', () => {
  it('marks loading, then stores the lists', () => {
    const loading = reduce(initialState, { type: 'refresh-start' });
    expect(loading.loading).toBe(true);
    const done = reduce(loading, {
      type: 'refresh-done',
      backend: up,
      snapshots: [snap('a')],
      sandboxes: [box('sb-1')],
      at: 42
    });
    expect(done.loading).toBe(false);
    expect(done.snapshots.map(s => s.name)).toEqual(['a']);
    expect(done.sandboxes.map(s => s.id)).toEqual(['sb-1']);
    expect(done.refreshedAt).toBe(42);
    expect(done.failures).toBe(0);
  });

  it('clears the lists and counts a failure when the backend is unreachable', () => {
    const state = reduce(loaded([snap('a')]), {
      type: 'refresh-done',
      backend: down,
      snapshots: [],
      sandboxes: [],
      at: 2
    });
    expect(state.snapshots).toEqual([]);
    expect(state.failures).toBe(1);
    expect(state.backend?.message).toBe('Not running.');
  });

  it('keeps the last lists but records the error when a request fails', () => {
    const state = reduce(loaded([snap('a')]), {
      type: 'refresh-failed',
      message: 'Bad gateway',
      at: 3
    });
    expect(state.error).toBe('Bad gateway');
    expect(state.failures).toBe(1);
    expect(state.snapshots).toHaveLength(1);
    const again = reduce(state, {
      type: 'refresh-failed',
      message: 'x',
      at: 4
    });
    expect(again.failures).toBe(2);
  });

  it('a success resets the failures and the error', () => {
    let state = reduce(initialState, {
      type: 'refresh-failed',
      message: 'x',
      at: 1
    });
    state = reduce(state, {
      type: 'refresh-done',
      backend: up,
      snapshots: [],
      sandboxes: [],
      at: 2
    });
    expect(state.failures).toBe(0);
    expect(state.error).toBeNull();
  });

  it('retry forgets the backoff', () => {
    let state = reduce(initialState, {
      type: 'refresh-failed',
      message: 'x',
      at: 1
    });
    state = reduce(state, { type: 'retry' });
    expect(state.failures).toBe(0);
    expect(state.error).toBeNull();
  });
});

describe('remove', () => {
  it('marks the item pending, then drops it', () => {
    let state = loaded([snap('a'), snap('b')], [box('sb-1')]);
    state = reduce(state, { type: 'remove-start', kind: 'snapshot', key: 'a' });
    expect(isPending(state, 'snapshot', 'a')).toBe(true);
    expect(isPending(state, 'snapshot', 'b')).toBe(false);
    state = reduce(state, { type: 'remove-done', kind: 'snapshot', key: 'a' });
    expect(state.snapshots.map(s => s.name)).toEqual(['b']);
    expect(state.pending).toEqual([]);
  });

  it('drops a killed sandbox', () => {
    let state = loaded([], [box('sb-1'), box('sb-2')]);
    state = reduce(state, {
      type: 'remove-start',
      kind: 'sandbox',
      key: 'sb-1'
    });
    state = reduce(state, {
      type: 'remove-done',
      kind: 'sandbox',
      key: 'sb-1'
    });
    expect(state.sandboxes.map(s => s.id)).toEqual(['sb-2']);
  });

  it('keeps the item and shows the message when the removal fails', () => {
    let state = loaded([snap('a')]);
    state = reduce(state, { type: 'remove-start', kind: 'snapshot', key: 'a' });
    state = reduce(state, {
      type: 'remove-failed',
      kind: 'snapshot',
      key: 'a',
      message: "Snapshot 'a' not found."
    });
    expect(state.snapshots).toHaveLength(1);
    expect(state.actionError).toBe("Snapshot 'a' not found.");
    expect(state.pending).toEqual([]);
    state = reduce(state, { type: 'remove-start', kind: 'snapshot', key: 'a' });
    expect(state.actionError).toBeNull();
  });

  it('a refresh answered during a removal does not bring the item back', () => {
    let state = loaded([snap('a')]);
    state = reduce(state, { type: 'remove-start', kind: 'snapshot', key: 'a' });
    state = reduce(state, {
      type: 'refresh-done',
      backend: up,
      snapshots: [snap('a'), snap('b')],
      sandboxes: [],
      at: 5
    });
    expect(state.snapshots.map(s => s.name)).toEqual(['b']);
  });

  it('handles names that contain a colon', () => {
    let state = loaded([], [box('sb:1')]);
    state = reduce(state, {
      type: 'remove-start',
      kind: 'sandbox',
      key: 'sb:1'
    });
    state = reduce(state, {
      type: 'refresh-done',
      backend: up,
      snapshots: [],
      sandboxes: [box('sb:1')],
      at: 5
    });
    expect(state.sandboxes).toEqual([]);
  });
});

describe('isBusy', () => {
  it('is true while a snapshot builds', () => {
    expect(isBusy(loaded([snap('a'), snap('b', 'building')]))).toBe(true);
    expect(isBusy(loaded([snap('a'), snap('b', 'failed')]))).toBe(false);
  });
  it('is true while a sandbox starts', () => {
    expect(isBusy(loaded([], [box('sb-1', 'starting')]))).toBe(true);
  });
});
