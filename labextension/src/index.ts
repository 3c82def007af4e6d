import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  EditorExtensionRegistry,
  IEditorExtensionRegistry
} from '@jupyterlab/codemirror';

import { recipeHighlighter } from './highlight';
import { OpenComputerPanel } from './panel';

/** The OpenComputer panel in the left sidebar. */
const panelPlugin: JupyterFrontEndPlugin<void> = {
  id: 'oc-jupyter:panel',
  description: 'Shows the OpenComputer backend, snapshots and sandboxes.',
  autoStart: true,
  optional: [ILayoutRestorer],
  activate: (app: JupyterFrontEnd, restorer: ILayoutRestorer | null) => {
    // The shell's left area: JupyterLab's sidebar, and Notebook 7's too.
    const panel = new OpenComputerPanel();
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
