/**
 * When the panel asks the server again: often enough to look live, never
 * while hidden, and backing off while things fail.
 */

import { IPanelState, isBusy } from './state';

export interface IPollingOptions {
  /** Delay while nothing changes on its own. */
  idleMs: number;
  /** Delay while a snapshot or sandbox is building. */
  busyMs: number;
  /** Ceiling of the backoff after failures. */
  maxMs: number;
}

export const defaultPolling: IPollingOptions = {
  idleMs: 5000,
  busyMs: 1500,
  maxMs: 60000
};

/**
 * Milliseconds until the next refresh, or null for none (hidden panel).
 * Called after a refresh finished, so requests never overlap.
 */
export function nextDelay(
  state: IPanelState,
  visible: boolean,
  options: IPollingOptions = defaultPolling
): number | null {
  if (!visible) {
    return null;
  }
  if (state.failures > 0) {
    const backoff = options.idleMs * 2 ** (state.failures - 1);
    return Math.min(backoff, options.maxMs);
  }
  return isBusy(state) ? options.busyMs : options.idleMs;
}
