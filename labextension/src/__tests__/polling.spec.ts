import { describe, expect, it } from 'vitest';

import { defaultPolling, nextDelay } from '../polling';
import { initialState, IPanelState } from '../state';

const idle: IPanelState = { ...initialState };
const building: IPanelState = {
  ...initialState,
  snapshots: [
    {
      name: 'a',
      status: 'building',
      contentHash: null,
      createdAt: null,
      lastUsedAt: null
    }
  ]
};

describe('nextDelay', () => {
  it('stops while the panel is hidden', () => {
    expect(nextDelay(idle, false)).toBeNull();
    expect(nextDelay(building, false)).toBeNull();
  });

  it('refreshes every few seconds while idle', () => {
    expect(nextDelay(idle, true)).toBe(defaultPolling.idleMs);
  });

  it('refreshes faster while something builds', () => {
    const delay = nextDelay(building, true)!;
    expect(delay).toBe(defaultPolling.busyMs);
    expect(delay).toBeLessThan(defaultPolling.idleMs);
    expect(delay).toBeGreaterThanOrEqual(1000);
  });

  it('backs off exponentially after failures, up to a ceiling', () => {
    const delays = [1, 2, 3, 4, 5, 6, 10].map(failures =>
      nextDelay({ ...idle, failures }, true)
    );
    expect(delays).toEqual([5000, 10000, 20000, 40000, 60000, 60000, 60000]);
  });

  it('backs off even when a build was in progress', () => {
    expect(nextDelay({ ...building, failures: 2 }, true)).toBe(10000);
  });
});
