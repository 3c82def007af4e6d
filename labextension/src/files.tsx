import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import {
  downloadIcon,
  fileIcon,
  fileUploadIcon,
  folderIcon,
  refreshIcon
} from '@jupyterlab/ui-components';
import * as React from 'react';

import { NAMESPACE, requestAPI } from './request';

/** One entry of a sandbox folder, as the server extension lists it. */
export interface IFileEntry {
  name: string;
  isDir: boolean;
  size: number;
  path: string;
}

/** Where a new file browser starts: the sandboxes' usual working folder. */
export const START_FOLDER = '/workspace';

function filesEndpoint(sandboxId: string, action = ''): string {
  return `sandboxes/${encodeURIComponent(sandboxId)}/files${action ? `/${action}` : ''}`;
}

export async function listFolder(
  sandboxId: string,
  path: string
): Promise<IFileEntry[]> {
  const reply = await requestAPI<{ entries: IFileEntry[] }>(
    `${filesEndpoint(sandboxId)}?path=${encodeURIComponent(path)}`
  );
  return reply.entries;
}

/** The URL a browser download of ``path`` uses (the Jupyter login cookie authenticates it). */
export function downloadUrl(
  sandboxId: string,
  path: string,
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): string {
  return (
    URLExt.join(
      settings.baseUrl,
      NAMESPACE,
      filesEndpoint(sandboxId, 'download')
    ) + `?path=${encodeURIComponent(path)}`
  );
}

/** Send one dropped file; the browser streams it and ServerConnection adds the XSRF token. */
export async function uploadFile(
  sandboxId: string,
  path: string,
  file: Blob
): Promise<void> {
  await requestAPI<void>(
    `${filesEndpoint(sandboxId, 'upload')}?path=${encodeURIComponent(path)}`,
    {
      method: 'PUT',
      body: file,
      headers: { 'Content-Type': 'application/octet-stream' }
    }
  );
}

/** ``/a/b`` → ``/a``; the root stays the root. */
export function parentOf(path: string): string {
  const trimmed = path.replace(/\/+$/, '');
  const cut = trimmed.lastIndexOf('/');
  return cut <= 0 ? '/' : trimmed.slice(0, cut);
}

export function joinPath(folder: string, name: string): string {
  return folder.endsWith('/') ? `${folder}${name}` : `${folder}/${name}`;
}

function sizeText(size: number): string {
  if (size < 1024) {
    return `${size} B`;
  }
  if (size < 1024 * 1024) {
    return `${(size / 1024).toFixed(1)} KB`;
  }
  return `${(size / (1024 * 1024)).toFixed(1)} MB`;
}

/**
 * A small browser of one sandbox's files: folders open on click, files
 * download, and files dropped on it upload into the folder shown. Every name
 * comes from the sandbox, so it is rendered as text only.
 */
export function SandboxFiles(props: { sandboxId: string }): JSX.Element {
  const { sandboxId } = props;
  const [path, setPath] = React.useState(START_FOLDER);
  const [entries, setEntries] = React.useState<IFileEntry[] | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  const [status, setStatus] = React.useState<string | null>(null);
  const [dragging, setDragging] = React.useState(false);

  const load = React.useCallback(
    async (folder: string) => {
      setError(null);
      try {
        setEntries(await listFolder(sandboxId, folder));
        setPath(folder);
      } catch (err) {
        if (folder === START_FOLDER && entries === null) {
          // A sandbox without /workspace still has a root folder to show.
          try {
            setEntries(await listFolder(sandboxId, '/'));
            setPath('/');
            return;
          } catch {
            // fall through to the first error
          }
        }
        setError((err as Error).message);
      }
    },
    [sandboxId, entries]
  );

  React.useEffect(() => {
    void load(START_FOLDER);
    // Load once per sandbox; navigation calls load itself.
  }, [sandboxId]);

  const onDrop = async (event: React.DragEvent) => {
    event.preventDefault();
    setDragging(false);
    const files = Array.from(event.dataTransfer.files);
    if (files.length === 0) {
      return;
    }
    setError(null);
    try {
      for (const [i, file] of files.entries()) {
        setStatus(`Uploading ${file.name} (${i + 1} of ${files.length})…`);
        await uploadFile(sandboxId, joinPath(path, file.name), file);
      }
      setStatus(
        `Uploaded ${files.length} file${files.length === 1 ? '' : 's'} to ${path}.`
      );
    } catch (err) {
      setStatus(null);
      setError((err as Error).message);
    }
    await load(path);
  };

  return (
    <div
      className={`oc-Files${dragging ? ' oc-Files-dragging' : ''}`}
      data-sandbox={sandboxId}
      onDragOver={event => {
        event.preventDefault();
        setDragging(true);
      }}
      onDragLeave={() => setDragging(false)}
      onDrop={event => void onDrop(event)}
    >
      <div className="oc-Files-bar">
        <button
          className="oc-IconButton oc-Files-up"
          title="Up one folder"
          aria-label="Up one folder"
          disabled={path === '/'}
          onClick={() => void load(parentOf(path))}
        >
          ..
        </button>
        <code className="oc-Files-path" title={path}>
          {path}
        </code>
        <button
          className="oc-IconButton oc-Files-refresh"
          title="Refresh"
          aria-label="Refresh the file list"
          onClick={() => void load(path)}
        >
          <refreshIcon.react tag="span" elementSize="normal" />
        </button>
      </div>
      {error && <div className="oc-Files-error">{error}</div>}
      {status && <div className="oc-Files-status">{status}</div>}
      <ul className="oc-Files-list">
        {(entries ?? []).map(entry => (
          <li
            key={entry.name}
            className="oc-Files-entry"
            data-name={entry.name}
          >
            {entry.isDir ? (
              <button
                className="oc-Files-name oc-Files-folder"
                title={`Open ${entry.path}`}
                onClick={() => void load(joinPath(path, entry.name))}
              >
                <folderIcon.react tag="span" elementSize="normal" />
                <span>{entry.name}</span>
              </button>
            ) : (
              <a
                className="oc-Files-name oc-Files-file"
                href={downloadUrl(sandboxId, joinPath(path, entry.name))}
                download={entry.name}
                title={`Download ${entry.path}`}
              >
                <fileIcon.react tag="span" elementSize="normal" />
                <span>{entry.name}</span>
                <span className="oc-Files-size">{sizeText(entry.size)}</span>
                <downloadIcon.react tag="span" elementSize="normal" />
              </a>
            )}
          </li>
        ))}
      </ul>
      <div className="oc-Files-drop">
        <fileUploadIcon.react tag="span" elementSize="normal" /> Drop files here
        to upload them to <code>{path}</code>
      </div>
    </div>
  );
}
