import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { IDataSource, PanelModel } from '../model';
import { IBackend, ISandbox, ISnapshot } from '../types';

const up: IBackend = {
  kind: 'local',
  url: 'http://127.0.0.1:1',
  reachable: true,
  message: 'ok'
};

/** Records every call; answers with whatever the test set. */
class Source implements IDataSource {
  calls: string[] = [];
  backend: IBackend = up;
  snapshots: ISnapshot[] = [];
  sandboxes: ISandbox[] = [];
  fail: Error | null = null;

  async getBackend() {
    this.calls.push('backend');
    if (this.fail) {
      throw this.fail;
    }
    return this.backend;
  }
  async listSnapshots() {
    this.calls.push('snapshots');
    return this.snapshots;
  }
  async listSandboxes() {
    this.calls.push('sandboxes');
    return this.sandboxes;
  }
  async deleteSnapshot(name: string) {
    this.calls.push(`delete ${name}`);
    this.snapshots = this.snapshots.filter(s => s.name !== name);
  }
  async killSandbox(id: string) {
    this.calls.push(`kill ${id}`);
    this.sandboxes = this.sandboxes.filter(s => s.id !== id);
  }
  async wakeSandbox(id: string) {
    this.calls.push(`wake ${id}`);
    this.sandboxes = this.sandboxes.map(s =>
      s.id === id ? { ...s, status: 'running' } : s
    );
  }
  async closePort(id: string, port: number) {
    this.calls.push(`close ${id} ${port}`);
    this.sandboxes = this.sandboxes.map(s =>
      s.id === id ? { ...s, ports: (s.ports ?? []).filter(p => p !== port) } : s
    );
  }
}

function snap(name: string, status = 'ready'): ISnapshot {
  return { name, status, contentHash: null, createdAt: null, lastUsedAt: null };
}

const refreshes = (source: Source) =>
  source.calls.filter(c => c === 'backend').length;

describe('PanelModel', () => {
  let source: Source;
  let model: PanelModel;

  beforeEach(() => {
    vi.useFakeTimers();
    source = new Source();
    model = new PanelModel(source);
  });

  afterEach(() => {
    model.dispose();
    vi.useRealTimers();
  });

  it('asks nothing until shown, then refreshes at once', async () => {
    await vi.advanceTimersByTimeAsync(60_000);
    expect(source.calls).toEqual([]);
    model.setVisible(true);
    await vi.advanceTimersByTimeAsync(0);
    expect(source.calls).toEqual(['backend', 'snapshots', 'sandboxes']);
  });

  it('refreshes every 5 s while idle and stops when hidden', async () => {
    model.setVisible(true);
    await vi.advanceTimersByTimeAsync(0);
    await vi.advanceTimersByTimeAsync(15_000);
    expect(refreshes(source)).toBe(4);
    model.setVisible(false);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(refreshes(source)).toBe(4);
  });

  it('refreshes faster while a snapshot builds', async () => {
    source.snapshots = [snap('a', 'building')];
    model.setVisible(true);
    await vi.advanceTimersByTimeAsync(0);
    await vi.advanceTimersByTimeAsync(4_500);
    expect(refreshes(source)).toBe(4);
    source.snapshots = [snap('a', 'ready')];
    await vi.advanceTimersByTimeAsync(1_500);
    const settled = refreshes(source);
    await vi.advanceTimersByTimeAsync(4_999);
    expect(refreshes(source)).toBe(settled);
    expect(model.state.snapshots[0].status).toBe('ready');
  });

  it('joins a refresh in flight instead of starting another', async () => {
    model.setVisible(true);
    const again = [model.refresh(), model.refresh(), model.refresh()];
    await Promise.all(again);
    expect(refreshes(source)).toBe(1);
  });

  it('does not list when the backend is unreachable, and backs off', async () => {
    source.backend = { ...up, reachable: false, message: 'Not running.' };
    model.setVisible(true);
    await vi.advanceTimersByTimeAsync(0);
    expect(source.calls).toEqual(['backend']);
    expect(model.state.backend?.message).toBe('Not running.');
    await vi.advanceTimersByTimeAsync(5_000);
    expect(refreshes(source)).toBe(2);
    await vi.advanceTimersByTimeAsync(9_999);
    expect(refreshes(source)).toBe(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(refreshes(source)).toBe(3);
  });

  it('retry asks again at once and forgets the backoff', async () => {
    source.fail = new Error('Bad gateway');
    model.setVisible(true);
    await vi.advanceTimersByTimeAsync(0);
    expect(model.state.error).toBe('Bad gateway');
    source.fail = null;
    await model.retry();
    expect(model.state.error).toBeNull();
    expect(model.state.failures).toBe(0);
    expect(refreshes(source)).toBe(2);
  });

  it('deletes a snapshot, then refreshes', async () => {
    source.snapshots = [snap('a'), snap('b')];
    model.setVisible(true);
    await vi.advanceTimersByTimeAsync(0);
    await model.deleteSnapshot('a');
    await vi.advanceTimersByTimeAsync(0);
    expect(source.calls).toContain('delete a');
    expect(model.state.snapshots.map(s => s.name)).toEqual(['b']);
    expect(refreshes(source)).toBe(2);
  });

  it('shows why a kill failed and keeps the sandbox', async () => {
    source.sandboxes = [
      { id: 'sb-1', status: 'running', madeFrom: null, createdAt: null }
    ];
    source.killSandbox = async () => {
      throw new Error("Sandbox 'sb-1' not found.");
    };
    model.setVisible(true);
    await vi.advanceTimersByTimeAsync(0);
    await model.killSandbox('sb-1');
    expect(model.state.actionError).toBe("Sandbox 'sb-1' not found.");
    expect(model.state.sandboxes).toHaveLength(1);
  });

  it('wakes a sandbox, keeps its row and shows it running after the refresh', async () => {
    source.sandboxes = [
      { id: 'sb-1', status: 'hibernated', madeFrom: null, createdAt: null }
    ];
    model.setVisible(true);
    await vi.advanceTimersByTimeAsync(0);
    await model.wakeSandbox('sb-1');
    await vi.advanceTimersByTimeAsync(0);
    expect(source.calls).toContain('wake sb-1');
    expect(model.state.sandboxes.map(s => s.status)).toEqual(['running']);
    expect(model.state.pending).toEqual([]);
  });

  it('closes a port and keeps the sandbox', async () => {
    source.sandboxes = [
      {
        id: 'sb-1',
        status: 'running',
        madeFrom: null,
        createdAt: null,
        ports: [3000, 8000]
      }
    ];
    model.setVisible(true);
    await vi.advanceTimersByTimeAsync(0);
    await model.closePort('sb-1', 8000);
    await vi.advanceTimersByTimeAsync(0);
    expect(source.calls).toContain('close sb-1 8000');
    expect(model.state.sandboxes[0].ports).toEqual([3000]);
  });

  it('emits changed for each transition', async () => {
    const seen: boolean[] = [];
    model.changed.connect((_, state) => seen.push(state.loading));
    model.setVisible(true);
    await vi.advanceTimersByTimeAsync(0);
    expect(seen).toEqual([true, false]);
  });
});
