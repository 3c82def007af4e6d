import { describe, expect, it } from 'vitest';

import { isRecipe, recipeTokens } from '../recipe';

function words(text: string): Array<[string, string]> {
  return recipeTokens(text).map(t => [t.kind, text.slice(t.from, t.to)]);
}

describe('isRecipe', () => {
  it('needs %%oc_image on the first line', () => {
    expect(isRecipe('%%oc_image demo --build\napt curl')).toBe(true);
    expect(isRecipe('%%oc_image')).toBe(true);
    expect(isRecipe('%%bash\napt curl')).toBe(false);
    expect(isRecipe('x = 1\n%%oc_image demo')).toBe(false);
    expect(isRecipe('%%oc_images demo')).toBe(false);
  });
});

describe('recipeTokens', () => {
  it('is empty for any other cell', () => {
    expect(recipeTokens('run = 1\npip = 2')).toEqual([]);
  });

  it('marks the magic and every step keyword, any case', () => {
    const text = [
      '%%oc_image demo --build',
      'apt curl jq',
      'pip requests "pandas>=2"',
      'RUN mkdir -p /workspace/data',
      '  env A=1',
      'workdir /workspace',
      'COPY data/x.json /workspace/x.json',
      'ADD notes.txt /workspace/notes.txt'
    ].join('\n');
    expect(words(text)).toEqual([
      ['magic', '%%oc_image'],
      ['keyword', 'apt'],
      ['keyword', 'pip'],
      ['keyword', 'RUN'],
      ['keyword', 'env'],
      ['keyword', 'workdir'],
      ['keyword', 'COPY'],
      ['keyword', 'ADD']
    ]);
  });

  it('marks comments and leaves unknown words alone', () => {
    const text = '%%oc_image demo\n# a comment\nfrobnicate x\napt\nrunner x';
    expect(words(text)).toEqual([
      ['magic', '%%oc_image'],
      ['comment', '# a comment'],
      ['keyword', 'apt']
    ]);
  });

  it('treats a heredoc body as content, not steps', () => {
    const text = [
      '%%oc_image demo',
      "file /workspace/hello.txt <<'EOF'",
      'run this is text',
      'EOF',
      'run echo hi'
    ].join('\n');
    expect(words(text)).toEqual([
      ['magic', '%%oc_image'],
      ['keyword', 'file'],
      ['heredoc', 'run this is text'],
      ['keyword', 'EOF'],
      ['keyword', 'run']
    ]);
  });

  it('skips continuation lines', () => {
    const text =
      '%%oc_image demo\nrun apt-get update && \\\n  run-parts x\npip x';
    expect(words(text)).toEqual([
      ['magic', '%%oc_image'],
      ['keyword', 'run'],
      ['keyword', 'pip']
    ]);
  });

  it('gives offsets into the whole cell', () => {
    const text = '%%oc_image d\npip x';
    const [, pip] = recipeTokens(text);
    expect(pip).toEqual({ from: 13, to: 16, kind: 'keyword' });
  });
});
