import { describe, expect, it } from 'vitest';

import {
  inputFrame,
  isFresh,
  limitsText,
  parseTerminalRequest,
  resizeFrame,
  terminalSocketUrl
} from '../terminalProtocol';

describe('frames', () => {
  it('wraps keystrokes as JSON, control characters included', () => {
    expect(JSON.parse(inputFrame('ls\r\u0003'))).toEqual({
      type: 'input',
      data: 'ls\r\u0003'
    });
  });

  it('sends a resize only for a usable size', () => {
    expect(JSON.parse(resizeFrame(120, 40)!)).toEqual({
      type: 'resize',
      cols: 120,
      rows: 40
    });
    expect(resizeFrame(0, 40)).toBeNull();
    expect(resizeFrame(80, 1001)).toBeNull();
    expect(resizeFrame(80.5, 24)).toBeNull();
  });
});

describe('terminalSocketUrl', () => {
  it('puts the sandbox id, size and token in the URL, escaped', () => {
    expect(terminalSocketUrl('ws://h:1/base/', 'sb 1/x', 80, 24)).toBe(
      'ws://h:1/base/oc-jupyter/sandboxes/sb%201%2Fx/terminal?cols=80&rows=24'
    );
    expect(terminalSocketUrl('ws://h:1', 'sb', 80, 24, 'a&b')).toBe(
      'ws://h:1/oc-jupyter/sandboxes/sb/terminal?cols=80&rows=24&token=a%26b'
    );
  });
});

describe('parseTerminalRequest', () => {
  it('reads the payload %oc_sandbox terminal displays', () => {
    expect(
      parseTerminalRequest({ sandbox: 'sb-1', requested: 10, freshFor: 60 })
    ).toEqual({
      sandbox: 'sb-1',
      requested: 10,
      freshFor: 60
    });
  });

  it('refuses anything without a sandbox id', () => {
    expect(parseTerminalRequest(null)).toBeNull();
    expect(parseTerminalRequest('sb-1')).toBeNull();
    expect(parseTerminalRequest({ sandbox: '' })).toBeNull();
    expect(parseTerminalRequest({ sandbox: 3 })).toBeNull();
  });

  it('opens only a request made just now', () => {
    const request = { sandbox: 'sb', requested: 1000, freshFor: 60 };
    expect(isFresh(request, 1030 * 1000)).toBe(true);
    expect(isFresh(request, 1100 * 1000)).toBe(false);
    expect(isFresh({ ...request, freshFor: 0 }, 1030 * 1000)).toBe(false);
  });
});

describe('limitsText', () => {
  it('shows memory, CPUs and network', () => {
    expect(
      limitsText({ memoryMB: 512, cpuCount: 1, networkEnabled: false })
    ).toBe('512 MB · 1 CPU · no network');
    expect(
      limitsText({ memoryMB: 2048, cpuCount: 2, networkEnabled: true })
    ).toBe('2 GB · 2 CPUs · network');
  });

  it('is null when the backend reports no limits', () => {
    expect(limitsText({})).toBeNull();
    expect(
      limitsText({ memoryMB: null, cpuCount: null, networkEnabled: null })
    ).toBeNull();
  });
});
