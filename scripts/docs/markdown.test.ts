import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { anchors, brokenLinks, codeSpans, links, section, slug, tableRows } from './markdown.js';

describe('slug', () => {
  it("makes GitHub's anchors: lower case, punctuation dropped, spaces to hyphens", () => {
    expect(slug('Restoring photos: `pnpm revive restore`')).toBe('restoring-photos-pnpm-revive-restore');
    expect(slug('decode → detect')).toBe('decode--detect');
    expect(slug('The `revive` CLI')).toBe('the-revive-cli');
    expect(slug('snake_case and CPU/GPU')).toBe('snake_case-and-cpugpu');
  });

  it('numbers repeated headings as GitHub does', () => {
    expect(anchors('# A\n## Notes\n### Notes\n## Notes\n')).toEqual(new Set(['a', 'notes', 'notes-1', 'notes-2']));
  });
});

describe('links', () => {
  it('finds inline links and images, not those in code', () => {
    const md = ['[a](x.md) and ![b](img.png "t")', '`[c](code.md)`', '```', '[d](fenced.md)', '```', '[e](y.md#top)'].join('\n');
    expect(links(md)).toEqual([
      { line: 1, target: 'x.md' },
      { line: 1, target: 'img.png' },
      { line: 6, target: 'y.md#top' },
    ]);
  });
});

describe('brokenLinks', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'revive-docs-'));
  mkdirSync(path.join(dir, 'sub'));
  writeFileSync(path.join(dir, 'sub', 'page.md'), '# Page\n## Some section\n');
  const file = path.join(dir, 'index.md');

  it('accepts links to files, folders and headings that exist', () => {
    const md = '# Index\n[p](sub/page.md) [s](sub/page.md#some-section) [d](sub/) [self](#index) [web](https://example.com/x#y)';
    expect(brokenLinks(file, md)).toEqual([]);
  });

  it('reports a missing file, a missing heading and a missing anchor on the page itself', () => {
    const md = '# Index\n[gone](sub/missing.md)\n[wrong](sub/page.md#no-such-section)\n[self](#nowhere)';
    expect(brokenLinks(file, md).map((b) => [b.line, b.target])).toEqual([
      [2, 'sub/missing.md'],
      [3, 'sub/page.md#no-such-section'],
      [4, '#nowhere'],
    ]);
  });
});

describe('tables', () => {
  it('returns body rows only, and keeps escaped pipes inside a cell', () => {
    const md = '## Flags\n| flag | meaning |\n|---|---|\n| `--a <x\\|y>` | one |\n| `--b` | two |\n## Next\n| z |\n';
    const rows = tableRows(section(md, 'Flags'));
    expect(rows).toEqual([
      ['`--a <x\\|y>`', 'one'],
      ['`--b`', 'two'],
    ]);
    expect(codeSpans(rows[0]![0]!)).toEqual(['--a <x\\|y>']);
  });

  it('refuses a heading that is missing or repeated', () => {
    expect(() => section('## A\n## A\n', 'A')).toThrow(/exactly one/);
    expect(() => section('## A\n', 'B')).toThrow(/exactly one/);
  });
});
