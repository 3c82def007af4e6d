/**
 * Text shown in the panel, computed from wire values; pure so it is tested
 * without a browser.
 */

/** The first 12 hex digits, as container tools show image ids. */
export function shortHash(hash: string | null | undefined): string {
  if (!hash) {
    return '—';
  }
  return hash.replace(/^sha256:/, '').slice(0, 12);
}

function parse(iso: string | null | undefined): number | null {
  if (!iso) {
    return null;
  }
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? null : ms;
}

/** A compact duration: "42s", "5m", "3h 5m", "2d 4h". */
export function duration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) {
    return `${s}s`;
  }
  const m = Math.floor(s / 60);
  if (m < 60) {
    return `${m}m`;
  }
  const h = Math.floor(m / 60);
  if (h < 24) {
    return m % 60 ? `${h}h ${m % 60}m` : `${h}h`;
  }
  const d = Math.floor(h / 24);
  return h % 24 ? `${d}d ${h % 24}h` : `${d}d`;
}

/** "5m ago", "just now", or "never" when there is no timestamp. */
export function timeAgo(
  iso: string | null | undefined,
  now: number,
  never = 'never'
): string {
  const then = parse(iso);
  if (then === null) {
    return never;
  }
  if (now - then < 5000) {
    return 'just now';
  }
  return `${duration(now - then)} ago`;
}

/** How long a sandbox has existed. */
export function age(iso: string | null | undefined, now: number): string {
  const then = parse(iso);
  return then === null ? '—' : duration(now - then);
}

/** The full local date and time, for tooltips. */
export function fullDate(iso: string | null | undefined): string {
  const then = parse(iso);
  return then === null ? '' : new Date(then).toLocaleString();
}

/** One of a fixed set of badge kinds, so unknown statuses still render. */
export type BadgeKind =
  'building' | 'ready' | 'failed' | 'running' | 'hibernated' | 'other';

export function badgeKind(status: string): BadgeKind {
  const s = status.toLowerCase();
  if (s === 'building' || s === 'pending' || s === 'starting') {
    return 'building';
  }
  if (s === 'ready') {
    return 'ready';
  }
  if (s === 'running') {
    return 'running';
  }
  if (s === 'hibernated') {
    return 'hibernated';
  }
  if (s === 'failed' || s === 'error' || s === 'stopped' || s === 'killed') {
    return 'failed';
  }
  return 'other';
}
