import { MainAreaWidget } from '@jupyterlab/apputils';
import { ServerConnection } from '@jupyterlab/services';
import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';
import { FitAddon } from '@xterm/addon-fit';
import { Terminal } from '@xterm/xterm';

import { ocIcon } from './icon';
import { inputFrame, resizeFrame, terminalSocketUrl } from './terminalProtocol';

/** A CSS variable of the current JupyterLab theme, so a dark theme gives a dark terminal. */
function themeColor(name: string, fallback: string): string {
  const value = getComputedStyle(document.body).getPropertyValue(name).trim();
  return value || fallback;
}

function currentTheme() {
  return {
    background: themeColor('--jp-layout-color0', '#ffffff'),
    foreground: themeColor('--jp-ui-font-color0', '#000000'),
    cursor: themeColor('--jp-ui-font-color0', '#000000'),
    selectionBackground: themeColor(
      '--jp-editor-selected-background',
      '#d9d9d9'
    )
  };
}

/**
 * A shell in a sandbox, in a main-area tab. It holds its own WebSocket to the
 * server extension, so it lives on whatever the panel's list does; disposing
 * it (closing the tab) closes the socket and the server hangs up the shell.
 */
export class SandboxTerminal extends Widget {
  constructor(
    readonly sandboxId: string,
    private readonly settings: ServerConnection.ISettings = ServerConnection.makeSettings()
  ) {
    super();
    this.addClass('oc-Terminal');
    this.node.dataset.sandbox = sandboxId;
    this.node.dataset.state = 'connecting';
    this._term = new Terminal({
      cursorBlink: true,
      fontFamily: themeColor('--jp-code-font-family', 'monospace'),
      fontSize: 13,
      theme: currentTheme()
    });
    // JupyterLab marks the body with the theme's name; follow a switch between light and dark.
    this._themeWatch = new MutationObserver(() => {
      this._term.options.theme = currentTheme();
    });
    this._themeWatch.observe(document.body, {
      attributes: true,
      attributeFilter: ['data-jp-theme-name']
    });
    this._fit = new FitAddon();
    this._term.loadAddon(this._fit);
    this._term.onData(data => this._send(inputFrame(data)));
    this._term.onResize(({ cols, rows }) => {
      this._showSize();
      const frame = resizeFrame(cols, rows);
      if (frame) {
        this._send(frame);
      }
    });
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._themeWatch.disconnect();
    this._socket?.close();
    this._socket = null;
    this._term.dispose();
    super.dispose();
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    if (!this._opened) {
      this._opened = true;
      this._term.open(this.node);
      this._fitNow();
      this._showSize();
      this._connect();
    }
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this._fitNow();
  }

  protected onResize(msg: Widget.ResizeMessage): void {
    super.onResize(msg);
    this._fitNow();
  }

  protected onActivateRequest(msg: Message): void {
    super.onActivateRequest(msg);
    this._term.focus();
  }

  /** The size xterm.js drew, as attributes: what `stty size` in the shell should say. */
  private _showSize(): void {
    this.node.dataset.cols = String(this._term.cols);
    this.node.dataset.rows = String(this._term.rows);
  }

  private _fitNow(): void {
    // A hidden tab measures zero; it fits again when shown.
    if (this._opened && this.isVisible && this.node.clientWidth > 0) {
      this._fit.fit();
    }
  }

  private _connect(): void {
    const token = this.settings.appendToken ? this.settings.token : '';
    const url = terminalSocketUrl(
      this.settings.wsUrl,
      this.sandboxId,
      this._term.cols,
      this._term.rows,
      token
    );
    const socket = new WebSocket(url);
    socket.binaryType = 'arraybuffer';
    socket.onopen = () => {
      // The tab may have been laid out (and fitted) after the URL took its size.
      this._fitNow();
      const frame = resizeFrame(this._term.cols, this._term.rows);
      if (frame) {
        socket.send(frame);
      }
      this.node.dataset.state = 'open';
    };
    socket.onmessage = (event: MessageEvent) => {
      // Bytes from the sandbox go only to xterm.js, which draws them as text.
      if (event.data instanceof ArrayBuffer) {
        this._term.write(new Uint8Array(event.data));
      } else if (typeof event.data === 'string') {
        this._term.write(event.data);
      }
    };
    socket.onclose = (event: CloseEvent) => {
      this.node.dataset.state = 'closed';
      if (!this.isDisposed) {
        const why = event.reason ? `: ${event.reason}` : '';
        this._term.write(`\r\n[disconnected${why}]\r\n`);
      }
    };
    this._socket = socket;
  }

  private _send(frame: string): void {
    if (this._socket?.readyState === WebSocket.OPEN) {
      this._socket.send(frame);
    }
  }

  private _term: Terminal;
  private _fit: FitAddon;
  private _socket: WebSocket | null = null;
  private _opened = false;
  private _themeWatch: MutationObserver;
}

let opened = 0;

/** Open a terminal tab into the sandbox and bring it to the front. */
export function openTerminal(
  shell: {
    add: (w: Widget, area: 'main') => void;
    activateById: (id: string) => void;
  },
  sandboxId: string
): MainAreaWidget<SandboxTerminal> {
  const content = new SandboxTerminal(sandboxId);
  const widget = new MainAreaWidget({ content });
  widget.id = `oc-terminal-${++opened}`;
  widget.addClass('oc-TerminalTab');
  widget.title.label = `Terminal ${sandboxId}`;
  widget.title.caption = `A shell in sandbox ${sandboxId}`;
  widget.title.icon = ocIcon;
  widget.title.closable = true;
  shell.add(widget, 'main');
  shell.activateById(widget.id);
  return widget;
}
