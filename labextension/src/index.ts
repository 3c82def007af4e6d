import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  EditorExtensionRegistry,
  IEditorExtensionRegistry
} from '@jupyterlab/codemirror';

import { IRenderMimeRegistry } from '@jupyterlab/rendermime';

import { recipeHighlighter } from './highlight';
import { OpenComputerPanel } from './panel';
import { openTerminal } from './terminal';
import { TERMINAL_MIME, TerminalRequestRenderer } from './terminalRequest';

const OPEN_TERMINAL = 'oc-jupyter:open-terminal';

/** The OpenComputer panel in the left sidebar. */
const panelPlugin: JupyterFrontEndPlugin<void> = {
  id: 'oc-jupyter:panel',
  description: 'Shows the OpenComputer backend, snapshots and sandboxes.',
  autoStart: true,
  optional: [ILayoutRestorer, IRenderMimeRegistry],
  activate: (
    app: JupyterFrontEnd,
    restorer: ILayoutRestorer | null,
    rendermime: IRenderMimeRegistry | null
  ) => {
    app.commands.addCommand(OPEN_TERMINAL, {
      label: args =>
        args.sandbox
          ? `Open Terminal into ${args.sandbox}`
          : 'Open Sandbox Terminal',
      execute: args => {
        const sandbox = args.sandbox;
        if (typeof sandbox !== 'string' || !sandbox) {
          throw new Error(
            'oc-jupyter:open-terminal needs a sandbox id, as {sandbox: "ID"}.'
          );
        }
        return openTerminal(app.shell, sandbox);
      }
    });
    const open = (sandbox: string) =>
      void app.commands.execute(OPEN_TERMINAL, { sandbox });
    // `%oc_sandbox terminal` asks for a tab through this output type.
    rendermime?.addFactory({
      safe: true,
      mimeTypes: [TERMINAL_MIME],
      createRenderer: () => new TerminalRequestRenderer(open)
    });
    // The shell's left area: JupyterLab's sidebar, and Notebook 7's too.
    const panel = new OpenComputerPanel(undefined, open);
    app.shell.add(panel, 'left', { rank: 600 });
    restorer?.add(panel, panel.id);
    app.commands.addCommand('oc-jupyter:open-panel', {
      label: 'Show OpenComputer Panel',
      execute: () => app.shell.activateById(panel.id)
    });
  }
};

/** Recipe keywords highlighted in `%%oc_image` cells. */
const recipePlugin: JupyterFrontEndPlugin<void> = {
  id: 'oc-jupyter:recipe-highlight',
  description: 'Highlights the recipe keywords of %%oc_image cells.',
  autoStart: true,
  requires: [IEditorExtensionRegistry],
  activate: (_: JupyterFrontEnd, registry: IEditorExtensionRegistry) => {
    registry.addExtension({
      name: 'oc-jupyter:recipe-highlight',
      factory: () =>
        EditorExtensionRegistry.createImmutableExtension(recipeHighlighter)
    });
  }
};

export default [panelPlugin, recipePlugin];
