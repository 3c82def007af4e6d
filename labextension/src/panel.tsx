import {
  Clipboard,
  Dialog,
  Notification,
  showDialog
} from '@jupyterlab/apputils';
import {
  closeIcon,
  copyIcon,
  deleteIcon,
  folderIcon,
  LabIcon,
  launchIcon,
  ReactWidget,
  refreshIcon,
  runIcon,
  stopIcon,
  terminalIcon,
  UseSignal
} from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import * as React from 'react';

import { SandboxFiles } from './files';
import { age, badgeKind, fullDate, shortHash, timeAgo } from './format';
import { ocIcon } from './icon';
import { PanelModel } from './model';
import * as api from './request';
import { IPanelState, isPending } from './state';
import { limitsText } from './terminalProtocol';
import { IBackend, ISandbox, ISnapshot } from './types';

function Badge({ status }: { status: string }): JSX.Element {
  return (
    <span className={`oc-Badge oc-Badge-${badgeKind(status)}`}>{status}</span>
  );
}

function IconButton(props: {
  icon: LabIcon;
  label: string;
  onClick: () => void;
  disabled?: boolean;
  danger?: boolean;
}): JSX.Element {
  return (
    <button
      className={`oc-IconButton${props.danger ? ' oc-IconButton-danger' : ''}`}
      title={props.label}
      aria-label={props.label}
      disabled={props.disabled}
      onClick={props.onClick}
    >
      <props.icon.react tag="span" elementSize="normal" />
    </button>
  );
}

function BackendView(props: {
  backend: IBackend | null;
  error: string | null;
  loading: boolean;
  onRetry: () => void;
}): JSX.Element {
  const { backend, error } = props;
  const ok = !error && backend?.reachable;
  const title = backend
    ? backend.kind === 'local'
      ? 'Local backend'
      : 'OpenComputer cloud'
    : 'Backend';
  const message = error ?? backend?.message ?? 'Connecting…';
  const state = !backend && !error ? 'unknown' : ok ? 'ok' : 'down';
  return (
    <section className={`oc-Backend oc-Backend-${state}`}>
      <div className="oc-Backend-line">
        <span className="oc-Dot" aria-hidden="true" />
        <span className="oc-Backend-title">{title}</span>
      </div>
      {backend?.url && (
        <code className="oc-Backend-url" title={backend.url}>
          {backend.url}
        </code>
      )}
      <div className="oc-Backend-message">{message}</div>
      {state === 'down' && (
        <button
          className="jp-mod-styled jp-mod-accept oc-Retry"
          onClick={props.onRetry}
          disabled={props.loading}
        >
          {props.loading ? 'Retrying…' : 'Retry'}
        </button>
      )}
    </section>
  );
}

function SnapshotRow(props: {
  snapshot: ISnapshot;
  now: number;
  pending: boolean;
  onDelete: () => void;
}): JSX.Element {
  const { snapshot: s, now } = props;
  return (
    <li className="oc-Row oc-SnapshotRow" data-name={s.name}>
      <div className="oc-Row-main">
        <span className="oc-Row-name" title={s.name}>
          {s.name}
        </span>
        <IconButton
          icon={deleteIcon}
          label={`Delete snapshot ${s.name}`}
          onClick={props.onDelete}
          disabled={props.pending}
          danger
        />
      </div>
      <div className="oc-Row-meta">
        <Badge status={s.status} />
        <code title={s.contentHash ?? ''}>{shortHash(s.contentHash)}</code>
        <span title={fullDate(s.createdAt)}>
          created {timeAgo(s.createdAt, now, '—')}
        </span>
        <span title={fullDate(s.lastUsedAt)}>
          used {timeAgo(s.lastUsedAt, now)}
        </span>
      </div>
      {s.status === 'failed' && s.error && (
        <div className="oc-Row-error">{s.error}</div>
      )}
    </li>
  );
}

function SandboxRow(props: {
  sandbox: ISandbox;
  now: number;
  pending: boolean;
  onKill: () => void;
  onCopy: () => void;
  onTerminal: () => void;
  onWake: () => void;
  onClosePort: (port: number) => void;
}): JSX.Element {
  const { sandbox: s, now } = props;
  const [filesOpen, setFilesOpen] = React.useState(false);
  const hibernated = s.status === 'hibernated';
  const limits = limitsText(s);
  const ports = s.ports ?? [];
  return (
    <li className="oc-Row oc-SandboxRow" data-id={s.id} data-status={s.status}>
      <div className="oc-Row-main">
        <code className="oc-Row-name" title={s.id}>
          {s.id}
        </code>
        <IconButton
          icon={copyIcon}
          label={`Copy id ${s.id}`}
          onClick={props.onCopy}
        />
        {hibernated && (
          <IconButton
            icon={runIcon}
            label={`Wake sandbox ${s.id}`}
            onClick={props.onWake}
            disabled={props.pending}
          />
        )}
        <IconButton
          icon={terminalIcon}
          label={`Open terminal into ${s.id}`}
          onClick={props.onTerminal}
          disabled={props.pending}
        />
        <IconButton
          icon={folderIcon}
          label={`${filesOpen ? 'Hide' : 'Files'} of sandbox ${s.id}`}
          onClick={() => setFilesOpen(!filesOpen)}
        />
        <IconButton
          icon={stopIcon}
          label={`Kill sandbox ${s.id}`}
          onClick={props.onKill}
          disabled={props.pending}
          danger
        />
      </div>
      <div className="oc-Row-meta">
        <Badge status={s.status} />
        <span title="made from">from {s.madeFrom ?? '—'}</span>
        <span title={fullDate(s.createdAt)}>age {age(s.createdAt, now)}</span>
        {limits && (
          <span className="oc-Limits" title="memory · CPUs · network">
            {limits}
          </span>
        )}
      </div>
      {ports.length > 0 && (
        <ul className="oc-Ports" aria-label={`Exposed ports of ${s.id}`}>
          {ports.map(port => (
            <li key={port} className="oc-Port" data-port={port}>
              <a
                className="oc-Port-link"
                href={api.portUrl(s.id, port)}
                target="_blank"
                rel="noopener noreferrer"
                title={`Open port ${port} of ${s.id} through Jupyter`}
              >
                <launchIcon.react tag="span" elementSize="normal" />
                {port}
              </a>
              <IconButton
                icon={closeIcon}
                label={`Stop exposing port ${port} of ${s.id}`}
                onClick={() => props.onClosePort(port)}
                disabled={props.pending}
              />
            </li>
          ))}
        </ul>
      )}
      {filesOpen && <SandboxFiles sandboxId={s.id} />}
    </li>
  );
}

function Section(props: {
  title: string;
  count: number;
  empty: React.ReactNode;
  children: React.ReactNode;
}): JSX.Element {
  return (
    <section className="oc-Section">
      <h3 className="oc-Section-title">
        {props.title} <span className="oc-Count">{props.count}</span>
      </h3>
      {props.count === 0 ? (
        <p className="oc-Empty">{props.empty}</p>
      ) : (
        <ul className="oc-List">{props.children}</ul>
      )}
    </section>
  );
}

async function confirm(
  title: string,
  body: string,
  label: string
): Promise<boolean> {
  const result = await showDialog({
    title,
    body,
    buttons: [Dialog.cancelButton(), Dialog.warnButton({ label })]
  });
  return result.button.accept;
}

function PanelView({
  model,
  state,
  openTerminal
}: {
  model: PanelModel;
  state: IPanelState;
  openTerminal: (id: string) => void;
}): JSX.Element {
  const now = Date.now();
  const reachable = !state.error && !!state.backend?.reachable;
  const onDelete = async (name: string) => {
    if (
      await confirm(
        'Delete snapshot?',
        `Delete the snapshot "${name}"? Sandboxes already made from it keep running.`,
        'Delete'
      )
    ) {
      await model.deleteSnapshot(name);
    }
  };
  const onKill = async (id: string) => {
    if (
      await confirm(
        'Kill sandbox?',
        `Kill the sandbox ${id}? Its processes stop and its files are gone.`,
        'Kill'
      )
    ) {
      await model.killSandbox(id);
    }
  };
  const onCopy = (id: string) => {
    Clipboard.copyToSystem(id);
    Notification.info(`Copied ${id}`, { autoClose: 2000 });
  };
  return (
    <div className="oc-Panel-body">
      <header className="oc-Header">
        <h2 className="oc-Header-title">OpenComputer</h2>
        <IconButton
          icon={refreshIcon}
          label="Refresh"
          onClick={() => void model.retry()}
          disabled={state.loading}
        />
      </header>
      <BackendView
        backend={state.backend}
        error={state.error}
        loading={state.loading}
        onRetry={() => void model.retry()}
      />
      {state.actionError && (
        <div className="oc-ActionError">{state.actionError}</div>
      )}
      {reachable && (
        <>
          <Section
            title="Snapshots"
            count={state.snapshots.length}
            empty={
              <>
                None yet. Make one with{' '}
                <code>%%oc_image NAME --snapshot SNAP</code>.
              </>
            }
          >
            {state.snapshots.map(s => (
              <SnapshotRow
                key={s.name}
                snapshot={s}
                now={now}
                pending={isPending(state, 'snapshot', s.name)}
                onDelete={() => void onDelete(s.name)}
              />
            ))}
          </Section>
          <Section
            title="Sandboxes"
            count={state.sandboxes.length}
            empty={
              <>
                None running. <code>%oc_run</code> starts one.
              </>
            }
          >
            {state.sandboxes.map(s => (
              <SandboxRow
                key={s.id}
                sandbox={s}
                now={now}
                pending={isPending(state, 'sandbox', s.id)}
                onKill={() => void onKill(s.id)}
                onCopy={() => onCopy(s.id)}
                onTerminal={() => openTerminal(s.id)}
                onWake={() => void model.wakeSandbox(s.id)}
                onClosePort={port => void model.closePort(s.id, port)}
              />
            ))}
          </Section>
        </>
      )}
    </div>
  );
}

/** The left-sidebar panel; refreshes only while it is shown. */
export class OpenComputerPanel extends ReactWidget {
  constructor(
    readonly model: PanelModel = new PanelModel(api),
    private readonly openTerminal: (id: string) => void = () => undefined
  ) {
    super();
    this.id = 'oc-jupyter-panel';
    this.addClass('oc-Panel');
    this.title.icon = ocIcon;
    this.title.label = 'OpenComputer';
    this.title.caption = 'OpenComputer: backend, snapshots and sandboxes';
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    document.addEventListener('visibilitychange', this._syncVisibility);
    this._syncVisibility();
  }

  protected onBeforeDetach(msg: Message): void {
    document.removeEventListener('visibilitychange', this._syncVisibility);
    this.model.setVisible(false);
    super.onBeforeDetach(msg);
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this._syncVisibility();
  }

  protected onAfterHide(msg: Message): void {
    super.onAfterHide(msg);
    this._syncVisibility();
  }

  /** Poll only while the panel is shown and the browser tab is in front. */
  private _syncVisibility = (): void => {
    this.model.setVisible(
      this.isVisible && document.visibilityState === 'visible'
    );
  };

  dispose(): void {
    this.model.dispose();
    super.dispose();
  }

  protected render(): JSX.Element {
    return (
      <UseSignal signal={this.model.changed} initialArgs={this.model.state}>
        {(_, state) => (
          <PanelView
            model={this.model}
            state={state ?? this.model.state}
            openTerminal={this.openTerminal}
          />
        )}
      </UseSignal>
    );
  }
}
