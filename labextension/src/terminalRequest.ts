import { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { Widget } from '@lumino/widgets';

import { isFresh, parseTerminalRequest } from './terminalProtocol';

/** What `%oc_sandbox terminal` displays; the kernel-side name is oc_jupyter.magics.sandboxes.TERMINAL_MIME. */
export const TERMINAL_MIME = 'application/vnd.oc-jupyter.terminal+json';

/** Requests already opened, so re-rendering an output does not open a second tab. */
const handled = new Set<string>();

/**
 * The output of `%oc_sandbox terminal`: a button that opens the terminal tab,
 * pressed once by itself when the cell has just run. The sandbox id is only
 * ever text here and a path segment in the socket URL.
 */
export class TerminalRequestRenderer
  extends Widget
  implements IRenderMime.IRenderer
{
  constructor(private readonly open: (sandboxId: string) => void) {
    super();
    this.addClass('oc-TerminalRequest');
  }

  async renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    const request = parseTerminalRequest(model.data[TERMINAL_MIME]);
    this.node.textContent = '';
    if (!request) {
      this.node.textContent = 'Not a terminal request: it names no sandbox.';
      return;
    }
    const button = document.createElement('button');
    button.className = 'jp-mod-styled jp-mod-accept oc-TerminalRequest-button';
    button.textContent = `Open terminal into ${request.sandbox}`;
    button.onclick = () => this.open(request.sandbox);
    this.node.appendChild(button);
    const key = `${request.sandbox} ${request.requested}`;
    if (!handled.has(key) && isFresh(request, Date.now())) {
      handled.add(key);
      this.open(request.sandbox);
    }
  }
}
