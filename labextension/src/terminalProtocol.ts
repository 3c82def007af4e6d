/**
 * What the terminal tab says to the server extension, and what a sandbox
 * row shows of its limits; pure so it is tested without a browser.
 *
 * Frames to the server are JSON ({type: 'input'} or {type: 'resize'}); frames
 * back are the terminal's raw bytes, handed only to xterm.js.
 */

/** The limit the server extension applies to a terminal's sides. */
export const MAX_SIDE = 1000;

export function inputFrame(data: string): string {
  return JSON.stringify({ type: 'input', data });
}

/** A resize frame, or null when the size is not a usable terminal size (a hidden tab measures 0). */
export function resizeFrame(cols: number, rows: number): string | null {
  if (!isSide(cols) || !isSide(rows)) {
    return null;
  }
  return JSON.stringify({ type: 'resize', cols, rows });
}

function isSide(n: number): boolean {
  return Number.isInteger(n) && n > 0 && n <= MAX_SIDE;
}

/** The WebSocket URL of a sandbox's terminal under the server's `wsUrl`. */
export function terminalSocketUrl(
  wsUrl: string,
  sandboxId: string,
  cols: number,
  rows: number,
  token = ''
): string {
  const base = wsUrl.endsWith('/') ? wsUrl : `${wsUrl}/`;
  const query = new URLSearchParams({ cols: String(cols), rows: String(rows) });
  if (token) {
    query.set('token', token);
  }
  return `${base}oc-jupyter/sandboxes/${encodeURIComponent(sandboxId)}/terminal?${query}`;
}

/** The payload `%oc_sandbox terminal` displays; null when it is not one. */
export interface ITerminalRequest {
  sandbox: string;
  requested: number;
  freshFor: number;
}

export function parseTerminalRequest(data: unknown): ITerminalRequest | null {
  if (!data || typeof data !== 'object') {
    return null;
  }
  const d = data as Record<string, unknown>;
  if (typeof d.sandbox !== 'string' || d.sandbox === '') {
    return null;
  }
  return {
    sandbox: d.sandbox,
    requested: typeof d.requested === 'number' ? d.requested : 0,
    freshFor: typeof d.freshFor === 'number' ? d.freshFor : 0
  };
}

/** True when the request was made just now (not a saved notebook reopened later). */
export function isFresh(request: ITerminalRequest, nowMs: number): boolean {
  const age = nowMs / 1000 - request.requested;
  return age >= -request.freshFor && age <= request.freshFor;
}

/** "512 MB · 1 CPU · no network": the limits the backend reports, or null when it reports none. */
export function limitsText(s: {
  memoryMB?: number | null;
  cpuCount?: number | null;
  networkEnabled?: boolean | null;
}): string | null {
  const parts: string[] = [];
  if (typeof s.memoryMB === 'number') {
    parts.push(
      s.memoryMB >= 1024 && s.memoryMB % 1024 === 0
        ? `${s.memoryMB / 1024} GB`
        : `${s.memoryMB} MB`
    );
  }
  if (typeof s.cpuCount === 'number') {
    parts.push(`${s.cpuCount} CPU${s.cpuCount === 1 ? '' : 's'}`);
  }
  if (typeof s.networkEnabled === 'boolean') {
    parts.push(s.networkEnabled ? 'network' : 'no network');
  }
  return parts.length ? parts.join(' · ') : null;
}
