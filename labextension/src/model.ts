import { ISignal, Signal } from '@lumino/signaling';

import { nextDelay } from './polling';
import { Action, initialState, IPanelState, ItemKind, reduce } from './state';
import { IBackend, ISandbox, ISnapshot } from './types';

/** Where the panel's data comes from: the server extension's routes (request.ts). */
export interface IDataSource {
  getBackend(): Promise<IBackend>;
  listSnapshots(): Promise<ISnapshot[]>;
  listSandboxes(): Promise<ISandbox[]>;
  deleteSnapshot(name: string): Promise<void>;
  killSandbox(id: string): Promise<void>;
  wakeSandbox(id: string): Promise<void>;
  closePort(id: string, port: number): Promise<void>;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Holds the panel's state, refreshes it while the panel is visible (one
 * request chain at a time) and carries out deletes and kills.
 */
export class PanelModel {
  constructor(private readonly source: IDataSource) {}

  get state(): IPanelState {
    return this._state;
  }

  get changed(): ISignal<this, IPanelState> {
    return this._changed;
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  /** Start refreshing when shown; stop when hidden. */
  setVisible(visible: boolean): void {
    if (visible === this._visible) {
      return;
    }
    this._visible = visible;
    this._clearTimer();
    if (visible) {
      void this.refresh();
    }
  }

  /** Refresh now; joins the refresh in flight rather than adding one. */
  refresh(): Promise<void> {
    if (!this._inflight) {
      this._clearTimer();
      this._inflight = this._load().finally(() => {
        this._inflight = null;
        this._schedule();
      });
    }
    return this._inflight;
  }

  /** The user asked to try again: forget the backoff. */
  retry(): Promise<void> {
    this._dispatch({ type: 'retry' });
    return this.refresh();
  }

  deleteSnapshot(name: string): Promise<void> {
    return this._remove('snapshot', name, () =>
      this.source.deleteSnapshot(name)
    );
  }

  killSandbox(id: string): Promise<void> {
    return this._remove('sandbox', id, () => this.source.killSandbox(id));
  }

  wakeSandbox(id: string): Promise<void> {
    return this._act('sandbox', id, () => this.source.wakeSandbox(id));
  }

  closePort(id: string, port: number): Promise<void> {
    return this._act('sandbox', id, () => this.source.closePort(id, port));
  }

  dispose(): void {
    this._disposed = true;
    this._clearTimer();
    Signal.clearData(this);
  }

  private async _load(): Promise<void> {
    this._dispatch({ type: 'refresh-start' });
    try {
      const backend = await this.source.getBackend();
      const [snapshots, sandboxes] = backend.reachable
        ? await Promise.all([
            this.source.listSnapshots(),
            this.source.listSandboxes()
          ])
        : [[], []];
      this._dispatch({
        type: 'refresh-done',
        backend,
        snapshots,
        sandboxes,
        at: Date.now()
      });
    } catch (error) {
      this._dispatch({
        type: 'refresh-failed',
        message: messageOf(error),
        at: Date.now()
      });
    }
  }

  private async _remove(
    kind: ItemKind,
    key: string,
    call: () => Promise<void>
  ): Promise<void> {
    this._dispatch({ type: 'remove-start', kind, key });
    try {
      await call();
      this._dispatch({ type: 'remove-done', kind, key });
    } catch (error) {
      this._dispatch({
        type: 'remove-failed',
        kind,
        key,
        message: messageOf(error)
      });
    }
    void this.refresh();
  }

  /** Like a removal, but the item stays: the refresh that follows shows what changed. */
  private async _act(
    kind: ItemKind,
    key: string,
    call: () => Promise<void>
  ): Promise<void> {
    this._dispatch({ type: 'remove-start', kind, key });
    try {
      await call();
      this._dispatch({ type: 'action-done', kind, key });
    } catch (error) {
      this._dispatch({
        type: 'remove-failed',
        kind,
        key,
        message: messageOf(error)
      });
    }
    void this.refresh();
  }

  private _schedule(): void {
    this._clearTimer();
    const delay = this._disposed ? null : nextDelay(this._state, this._visible);
    if (delay !== null) {
      this._timer = setTimeout(() => void this.refresh(), delay);
    }
  }

  private _clearTimer(): void {
    if (this._timer !== null) {
      clearTimeout(this._timer);
      this._timer = null;
    }
  }

  private _dispatch(action: Action): void {
    if (this._disposed) {
      return;
    }
    this._state = reduce(this._state, action);
    this._changed.emit(this._state);
  }

  private _state: IPanelState = initialState;
  private _changed = new Signal<this, IPanelState>(this);
  private _visible = false;
  private _disposed = false;
  private _inflight: Promise<void> | null = null;
  private _timer: ReturnType<typeof setTimeout> | null = null;
}
