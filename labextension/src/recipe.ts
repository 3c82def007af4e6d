/**
 * Finds the parts of a `%%oc_image` cell worth highlighting: the magic line,
 * each step's keyword, comments and heredoc bodies. Pure text in, offsets
 * out; the CodeMirror plugin only turns these into decorations.
 */

import { RECIPE_KEYWORDS } from './recipeKeywords';

export type TokenKind = 'magic' | 'keyword' | 'comment' | 'heredoc';

export interface IToken {
  from: number;
  to: number;
  kind: TokenKind;
}

/** Step keywords of a recipe; matched case-insensitively (RUN, ENV, ...). */
export const KEYWORDS: ReadonlySet<string> = new Set(RECIPE_KEYWORDS);

const MAGIC = /^\s*%%oc_image\b/;
const HEREDOC = /<<-?\s*(['"]?)([A-Za-z_][A-Za-z0-9_]*)\1\s*$/;

export function isRecipe(text: string): boolean {
  return MAGIC.test(text.slice(0, text.indexOf('\n') + 1 || undefined));
}

export function recipeTokens(text: string): IToken[] {
  if (!isRecipe(text)) {
    return [];
  }
  const tokens: IToken[] = [];
  let offset = 0;
  let heredocEnd: string | null = null;
  let continued = false;
  text.split('\n').forEach((line, index) => {
    const start = offset;
    offset += line.length + 1;
    if (index === 0) {
      const magic = line.indexOf('%%oc_image');
      tokens.push({
        from: start + magic,
        to: start + magic + 10,
        kind: 'magic'
      });
      return;
    }
    if (heredocEnd !== null) {
      if (line.trim() === heredocEnd) {
        heredocEnd = null;
        tokens.push({ from: start, to: start + line.length, kind: 'keyword' });
      } else if (line.length > 0) {
        tokens.push({ from: start, to: start + line.length, kind: 'heredoc' });
      }
      return;
    }
    const wasContinued = continued;
    continued = /\\\s*$/.test(line);
    if (wasContinued) {
      return;
    }
    const lead = line.length - line.trimStart().length;
    const rest = line.slice(lead);
    if (rest.startsWith('#')) {
      tokens.push({
        from: start + lead,
        to: start + line.length,
        kind: 'comment'
      });
      return;
    }
    const word = /^[A-Za-z]+/.exec(rest);
    if (word && KEYWORDS.has(word[0].toLowerCase())) {
      const end =
        rest.length === word[0].length || /\s/.test(rest[word[0].length]);
      if (end) {
        tokens.push({
          from: start + lead,
          to: start + lead + word[0].length,
          kind: 'keyword'
        });
        const heredoc = word[0].toLowerCase() === 'file' && HEREDOC.exec(rest);
        if (heredoc) {
          heredocEnd = heredoc[2];
        }
      }
    }
  });
  return tokens;
}
