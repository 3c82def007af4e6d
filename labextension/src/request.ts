import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { IBackend, ISandbox, ISnapshot } from './types';

/** The server extension's API namespace, named after the Python package. */
export const NAMESPACE = 'oc-jupyter';

/**
 * Call the server extension; Jupyter's login cookie and XSRF token come
 * with ServerConnection, and the OpenComputer key never leaves the server.
 */
export async function requestAPI<T>(
  endPoint: string,
  init: RequestInit = {},
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<T> {
  const url = URLExt.join(settings.baseUrl, NAMESPACE, endPoint);
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new ServerConnection.NetworkError(error as TypeError);
  }
  const text = await response.text();
  let data: any = text;
  if (text.length > 0) {
    try {
      data = JSON.parse(text);
    } catch {
      // Not JSON (a proxy's error page): keep the text as the message.
    }
  }
  if (!response.ok) {
    const message =
      (data && typeof data === 'object' && data.message) ||
      (typeof data === 'string' && data) ||
      response.statusText;
    throw new ServerConnection.ResponseError(response, message);
  }
  return data as T;
}

export function getBackend(): Promise<IBackend> {
  return requestAPI<IBackend>('backend');
}

export async function listSnapshots(): Promise<ISnapshot[]> {
  const reply = await requestAPI<{ snapshots: ISnapshot[] }>('snapshots');
  return reply.snapshots;
}

export async function deleteSnapshot(name: string): Promise<void> {
  await requestAPI<void>(`snapshots/${encodeURIComponent(name)}`, {
    method: 'DELETE'
  });
}

export async function listSandboxes(): Promise<ISandbox[]> {
  const reply = await requestAPI<{ sandboxes: ISandbox[] }>('sandboxes');
  return reply.sandboxes;
}

export async function killSandbox(id: string): Promise<void> {
  await requestAPI<void>(`sandboxes/${encodeURIComponent(id)}`, {
    method: 'DELETE'
  });
}

export async function wakeSandbox(id: string): Promise<void> {
  await requestAPI<void>(`sandboxes/${encodeURIComponent(id)}/wake`, {
    method: 'POST'
  });
}

/** Stop exposing a port (the `%oc_expose --close` of the panel). */
export async function closePort(id: string, port: number): Promise<void> {
  await requestAPI<void>(
    `sandboxes/${encodeURIComponent(id)}/previews/${port}`,
    { method: 'DELETE' }
  );
}

/** Where an exposed port opens: the Jupyter server's proxy, behind the Jupyter login. */
export function portUrl(
  id: string,
  port: number,
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): string {
  return URLExt.join(
    settings.baseUrl,
    NAMESPACE,
    'proxy',
    encodeURIComponent(id),
    String(port),
    '/'
  );
}
