// Reads the repository's Markdown the way GitHub renders it, for the docs tests: relative links and their anchors,
// and the first cells of the tables under a heading (where the docs name settings, routes and codes).
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

/** One heading and the lines below it, up to the next heading of any level. */
export interface Section {
  readonly level: number;
  /** The heading's text as written (backticks included). */
  readonly title: string;
  readonly lines: readonly string[];
}

/** A relative link that does not resolve. */
export interface BrokenLink {
  readonly file: string;
  readonly line: number;
  readonly target: string;
  readonly reason: string;
}

const FENCE = /^\s*(```|~~~)/;

/** The lines outside fenced code blocks, with their 1-based numbers; fenced lines come back empty. */
function proseLines(markdown: string): string[] {
  let inFence = false;
  return markdown.split('\n').map((line) => {
    if (FENCE.test(line)) {
      inFence = !inFence;
      return '';
    }
    return inFence ? '' : line;
  });
}

/** Splits a page at its headings (outside code blocks). Text before the first heading is a section of level 0. */
export function sections(markdown: string): Section[] {
  const out: { level: number; title: string; lines: string[] }[] = [{ level: 0, title: '', lines: [] }];
  for (const line of proseLines(markdown)) {
    const heading = /^(#{1,6})\s+(.*?)\s*#*\s*$/.exec(line);
    if (heading) out.push({ level: heading[1]!.length, title: heading[2]!, lines: [] });
    else out.at(-1)!.lines.push(line);
  }
  return out;
}

/**
 * GitHub's anchor for a heading (github-slugger): lower case, punctuation other than `-` and `_` dropped, each space a
 * hyphen. Repeated headings get `-1`, `-2`… in order, which {@link anchors} applies.
 */
export function slug(heading: string): string {
  return heading
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-');
}

/** Every anchor a page has: its headings' slugs (with GitHub's suffixes for repeats) and explicit `<a name|id>`. */
export function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const { level, title } of sections(markdown)) {
    if (level === 0) continue;
    const base = slug(title);
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    out.add(count === 0 ? base : `${base}-${count}`);
  }
  for (const match of markdown.matchAll(/<a\s+(?:name|id)="([^"]+)"/g)) out.add(match[1]!);
  return out;
}

/** Inline links and images, `[text](target)` or `![alt](target "title")`, outside code blocks and code spans. */
export function links(markdown: string): { line: number; target: string }[] {
  const out: { line: number; target: string }[] = [];
  proseLines(markdown).forEach((line, index) => {
    const withoutCode = line.replace(/`+[^`]*`+/g, '');
    for (const match of withoutCode.matchAll(/!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
      out.push({ line: index + 1, target: match[1]! });
    }
  });
  return out;
}

/** True for links that leave the repository (http, mailto…), which these tests do not fetch. */
function isExternal(target: string): boolean {
  return /^[a-z][a-z0-9+.-]*:/i.test(target);
}

/**
 * The relative links of `file` that point at nothing: a missing file or folder, or an anchor that the target page
 * (or `file` itself, for `#anchor`) does not have. `readPage` reads a linked Markdown page.
 */
export function brokenLinks(file: string, markdown: string, readPage: (file: string) => string | undefined = readIfFile): BrokenLink[] {
  const broken: BrokenLink[] = [];
  for (const { line, target } of links(markdown)) {
    if (isExternal(target)) continue;
    const [rawPath = '', rawAnchor] = target.split('#', 2);
    const pathPart = decodeURIComponent(rawPath);
    const resolved = pathPart === '' ? file : path.resolve(path.dirname(file), pathPart);
    if (pathPart !== '' && !existsSync(resolved)) {
      broken.push({ file, line, target, reason: `no such file: ${resolved}` });
      continue;
    }
    if (rawAnchor === undefined || rawAnchor === '') continue;
    const page = resolved === file ? markdown : readPage(resolved);
    if (page === undefined || !resolved.endsWith('.md')) {
      broken.push({ file, line, target, reason: 'an anchor into something that is not a Markdown page' });
      continue;
    }
    if (!anchors(page).has(decodeURIComponent(rawAnchor))) {
      broken.push({ file, line, target, reason: `${path.basename(resolved)} has no heading with the anchor #${rawAnchor}` });
    }
  }
  return broken;
}

function readIfFile(file: string): string | undefined {
  return existsSync(file) && statSync(file).isFile() ? readFileSync(file, 'utf8') : undefined;
}

/** Cells of a table row `| a | b |`; undefined for lines that are not rows, and for the `|---|` separator. */
export function tableCells(line: string): string[] | undefined {
  const trimmed = line.trim();
  if (!trimmed.startsWith('|')) return undefined;
  // Split on pipes that are not escaped (`\|` inside a cell, as in `<id\|path>`).
  const cells = trimmed
    .replace(/^\|/, '')
    .replace(/\|$/, '')
    .split(/(?<!\\)\|/)
    .map((cell) => cell.trim());
  if (cells.every((cell) => /^:?-{3,}:?$/.test(cell))) return undefined;
  return cells;
}

/** The rows of every table in a section, header rows excluded (the row right above a separator). */
export function tableRows(section: Section): string[][] {
  const rows: string[][] = [];
  const lines = section.lines;
  lines.forEach((line, i) => {
    const cells = tableCells(line);
    if (cells === undefined) return;
    const next = lines[i + 1];
    const isHeader = next !== undefined && next.trim().startsWith('|') && tableCells(next) === undefined;
    if (!isHeader) rows.push(cells);
  });
  return rows;
}

/** The `code spans` of a cell, without their backticks. */
export function codeSpans(cell: string): string[] {
  return [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
}

/** The one section whose heading is `title` (exact text), or an error naming the page. */
export function section(markdown: string, title: string, page = 'the page'): Section {
  const found = sections(markdown).filter((s) => s.title === title);
  if (found.length !== 1) throw new Error(`${page} should have exactly one heading "${title}" (found ${found.length})`);
  return found[0]!;
}

/** Markdown files under `dir`, recursively, skipping node_modules. */
export function markdownFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'node_modules' ? [] : markdownFiles(full);
    return entry.name.endsWith('.md') ? [full] : [];
  });
}
