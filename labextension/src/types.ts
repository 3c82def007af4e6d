/**
 * Shapes of the server extension's JSON replies (routes under /oc-jupyter/).
 */

export type BackendKind = 'local' | 'cloud';

export interface IBackend {
  kind: BackendKind;
  url: string | null;
  reachable: boolean;
  message: string;
}

export type SnapshotStatus = 'building' | 'ready' | 'failed';

export interface ISnapshot {
  name: string;
  status: SnapshotStatus | string;
  contentHash: string | null;
  createdAt: string | null;
  lastUsedAt: string | null;
  error?: string | null;
}

export interface ISandbox {
  id: string;
  status: string;
  madeFrom: string | null;
  createdAt: string | null;
  memoryMB?: number | null;
  cpuCount?: number | null;
  networkEnabled?: boolean | null;
  /** Exposed ports (preview URLs), opened through the Jupyter server's proxy. */
  ports?: number[];
}
