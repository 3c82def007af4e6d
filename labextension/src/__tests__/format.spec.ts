import { describe, expect, it } from 'vitest';

import { age, badgeKind, duration, shortHash, timeAgo } from '../format';

const NOW = Date.parse('2026-01-02T12:00:00Z');

describe('shortHash', () => {
  it('keeps the first 12 hex digits', () => {
    expect(shortHash('a'.repeat(12) + 'b'.repeat(52))).toBe('aaaaaaaaaaaa');
  });
  it('drops a sha256: prefix', () => {
    expect(shortHash('sha256:0123456789abcdef')).toBe('0123456789ab');
  });
  it('shows a dash without a hash', () => {
    expect(shortHash(null)).toBe('—');
    expect(shortHash('')).toBe('—');
  });
});

describe('duration', () => {
  it.each([
    [0, '0s'],
    [59_999, '59s'],
    [60_000, '1m'],
    [3_600_000, '1h'],
    [3_900_000, '1h 5m'],
    [86_400_000, '1d'],
    [90_000_000, '1d 1h'],
    [-5000, '0s']
  ])('%i ms is %s', (ms, text) => {
    expect(duration(ms)).toBe(text);
  });
});

describe('timeAgo', () => {
  it('says how long ago', () => {
    expect(timeAgo('2026-01-02T11:55:00Z', NOW)).toBe('5m ago');
  });
  it('says just now for the last seconds', () => {
    expect(timeAgo('2026-01-02T11:59:58Z', NOW)).toBe('just now');
  });
  it('says never without a timestamp or with a bad one', () => {
    expect(timeAgo(null, NOW)).toBe('never');
    expect(timeAgo('not a date', NOW)).toBe('never');
    expect(timeAgo(undefined, NOW, '—')).toBe('—');
  });
});

describe('age', () => {
  it('is the time since creation', () => {
    expect(age('2026-01-02T09:00:00Z', NOW)).toBe('3h');
    expect(age(null, NOW)).toBe('—');
  });
});

describe('badgeKind', () => {
  it.each([
    ['building', 'building'],
    ['BUILDING', 'building'],
    ['ready', 'ready'],
    ['running', 'running'],
    ['failed', 'failed'],
    ['stopped', 'failed'],
    ['paused', 'other']
  ])('%s is a %s badge', (status, kind) => {
    expect(badgeKind(status)).toBe(kind);
  });
});
