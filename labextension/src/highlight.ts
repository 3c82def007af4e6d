import { RangeSetBuilder } from '@codemirror/state';
import {
  Decoration,
  DecorationSet,
  EditorView,
  ViewPlugin,
  ViewUpdate
} from '@codemirror/view';

import { recipeTokens, TokenKind } from './recipe';

const marks: Record<TokenKind, Decoration> = {
  magic: Decoration.mark({ class: 'oc-recipe-magic' }),
  keyword: Decoration.mark({ class: 'oc-recipe-keyword' }),
  comment: Decoration.mark({ class: 'oc-recipe-comment' }),
  heredoc: Decoration.mark({ class: 'oc-recipe-heredoc' })
};

function decorate(view: EditorView): DecorationSet {
  const doc = view.state.doc;
  // Recipes are cell-sized; a long document can only be something else.
  if (doc.length > 200000 || !doc.line(1).text.includes('%%oc_image')) {
    return Decoration.none;
  }
  const builder = new RangeSetBuilder<Decoration>();
  for (const token of recipeTokens(doc.toString())) {
    if (token.to > token.from) {
      builder.add(token.from, token.to, marks[token.kind]);
    }
  }
  return builder.finish();
}

/**
 * Marks recipe keywords in editors whose first line is `%%oc_image`,
 * on top of the cell's own (Python) highlighting.
 */
export const recipeHighlighter = ViewPlugin.fromClass(
  class {
    decorations: DecorationSet;

    constructor(view: EditorView) {
      this.decorations = decorate(view);
    }

    update(update: ViewUpdate): void {
      if (update.docChanged) {
        this.decorations = decorate(update.view);
      }
    }
  },
  { decorations: plugin => plugin.decorations }
);
