// The docs against the code: every relative link resolves, and every setting, route and code the docs name is one the
// code has, and the other way round. A new env variable, context key, CLI flag, route or error code fails here until
// docs/ says what it does.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { API_ERROR_CODES } from '../../packages/contract/src/api.js';
import { API_ROUTES } from '../../packages/contract/src/api-routes.js';
import { apiEnvSchema, workerEnvSchema } from '../../packages/contract/src/env.js';
import { JOB_ERROR_CODES } from '../../packages/contract/src/job.js';
import { reviveContextSchema } from '../../packages/infra/src/config.js';
import { scalingSignalEnvSchema } from '../../packages/infra/src/scaling-signal/lambda.js';
import { buildProgram } from '../../packages/worker/src/cli/program.js';
import { deadLetterEnvSchema } from '../../packages/worker/src/service/dead-letters.js';
import { webhookRetryEnvSchema } from '../../packages/worker/src/service/webhook-retries.js';
import { brokenLinks, codeSpans, markdownFiles, section, sections, tableRows } from './markdown.js';

/** The `revive` program (commander's Command, typed through the worker, which depends on commander). */
type Command = ReturnType<typeof buildProgram>;

const ROOT = path.resolve(import.meta.dirname, '../..');
const read = (relative: string) => readFileSync(path.join(ROOT, relative), 'utf8');
const sorted = (names: Iterable<string>) => [...new Set(names)].sort();
/** The entries of `items` that an earlier entry already had. */
const repeated = <T>(items: readonly T[]): T[] => items.filter((item, i) => items.indexOf(item) !== i);

/** The README is a front page; the rest lives in docs/. */
const README_MAX_LINES = 120;
/** The pages issue #21 asked for, each for one reader. */
const DOCS_PAGES = ['api.md', 'architecture.md', 'benchmarks.md', 'configuration.md', 'deploy.md', 'local-development.md', 'operations.md', 'decisions/README.md'];

/** Markdown the links of which must resolve: the front page, the house rules, docs/ and every package's README. */
function checkedPages(): string[] {
  const packages = readdirSync(path.join(ROOT, 'packages'), { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => path.join(ROOT, 'packages', entry.name, 'README.md'))
    .filter((file) => existsSync(file));
  return [path.join(ROOT, 'README.md'), path.join(ROOT, 'DEVELOPERS.md'), ...markdownFiles(path.join(ROOT, 'docs')), ...packages];
}

/** Source files under `dir` (relative to the root), recursively; `keep` filters their root-relative paths. */
function sourceFiles(dir: string, keep: (file: string) => boolean): string[] {
  const full = path.join(ROOT, dir);
  return readdirSync(full, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && /\.(ts|mjs)$/.test(entry.name))
    .map((entry) => path.relative(ROOT, path.join(entry.parentPath, entry.name)))
    .filter(keep);
}

/**
 * The environment variables `files` read: `process.env.X`, `env.X`, `base.X` (the local stack's name for the user's
 * environment), and `env[X_ENV]` through a `const X_ENV = 'NAME'` of the same files (with `only: 'process.env'`, only
 * `process.env` reads). Plain assignments are not reads.
 * The AWS SDK's own variables (`AWS_*`) are left out: the docs name them in prose, not in the table.
 */
function envReads(files: readonly string[], only: 'process.env' | 'any' = 'any'): Set<string> {
  const texts = files.map((file) => read(file));
  const constants = new Map<string, string>();
  for (const text of texts) {
    for (const m of text.matchAll(/\bconst\s+([A-Z][A-Z0-9_]*)\s*=\s*'([A-Z][A-Z0-9_]*)'/g)) constants.set(m[1]!, m[2]!);
  }
  const names = new Set<string>();
  for (const text of texts) {
    const reads = only === 'process.env' ? /process\.env(?:\.([A-Z][A-Z0-9_]*)|\[([A-Z][A-Z0-9_]*)\])(?!\s*=(?!=))/g : /(?:process\.env|\benv|\bbase)(?:\.([A-Z][A-Z0-9_]*)|\[([A-Z][A-Z0-9_]*)\])(?!\s*=(?!=))/g;
    for (const m of text.matchAll(reads)) {
      const name = m[1] ?? constants.get(m[2]!);
      if (name !== undefined && !name.startsWith('AWS_')) names.add(name);
    }
  }
  return names;
}

const isTest = (file: string) => file.endsWith('.test.ts');
const packageDirs = readdirSync(path.join(ROOT, 'packages'));
const inPackages = (sub: string) => packageDirs.flatMap((pkg) => {
  try {
    return sourceFiles(`packages/${pkg}/${sub}`, () => true);
  } catch {
    return [];
  }
});

/** Who reads which variables: the schemas themselves, or the env reads of the code that has no schema of its own. */
const ENV_READERS: Readonly<Record<string, readonly string[]>> = {
  worker: Object.keys(workerEnvSchema.shape),
  API: Object.keys(apiEnvSchema.shape),
  DeadLetters: Object.keys(deadLetterEnvSchema.shape),
  WebhookRetries: Object.keys(webhookRetryEnvSchema.shape),
  ScalingSignal: Object.keys(scalingSignalEnvSchema.shape),
  'pnpm start': [...envReads(sourceFiles('packages/dev-stack/src', (f) => !isTest(f) && !f.includes('/web/')))],
  CLI: [
    ...envReads([
      ...sourceFiles('packages/pipeline/src', (f) => !isTest(f) && !f.includes('/testing/')),
      ...sourceFiles('packages/worker/src/cli', (f) => !isTest(f)),
    ]),
  ],
  // Tests' own knobs, from the shell: the env objects tests build for the processes they start are not knobs.
  tests: [
    ...envReads([...inPackages('test'), ...inPackages('bench'), ...inPackages('src/testing'), ...sourceFiles('scripts', (f) => f.endsWith('.mjs'))], 'process.env'),
  ].filter((n) => n.startsWith('REVIVE_')),
};

describe('links', () => {
  it('every relative link in the README, DEVELOPERS.md, docs/ and the package READMEs points at a file and heading that exist', () => {
    const broken = checkedPages().flatMap((file) => brokenLinks(file, readFileSync(file, 'utf8')));
    expect(broken.map((b) => `${path.relative(ROOT, b.file)}:${b.line} ${b.target}: ${b.reason}`)).toEqual([]);
  });

  it('no page has two sections of one title under the same parent', () => {
    const twice = checkedPages().flatMap((file) => {
      const seen = new Set<string>();
      const open: string[] = [];
      const repeated: string[] = [];
      for (const { level, title } of sections(readFileSync(file, 'utf8')).slice(1)) {
        open.length = level - 1;
        const key = [...open, title].join(' > ');
        if (seen.has(key)) repeated.push(`${path.relative(ROOT, file)}: ${key}`);
        seen.add(key);
        open[level - 1] = title;
      }
      return repeated;
    });
    expect(twice).toEqual([]);
  });

  it('no page holds the markers a merge conflict leaves', () => {
    // Outside code blocks (an example of a conflict may sit in one); "=======" alone is also a setext underline.
    const marked = checkedPages().flatMap((file) =>
      sections(readFileSync(file, 'utf8'))
        .flatMap((section) => section.lines)
        .filter((line) => /^(<{7}|>{7})( |$)/.test(line))
        .map((line) => `${path.relative(ROOT, file)}: ${line}`),
    );
    expect(marked).toEqual([]);
  });

  it('every package has a README that says how to run its tests', () => {
    const missing = packageDirs.filter((pkg) => {
      try {
        return !read(`packages/${pkg}/README.md`).includes('pnpm test');
      } catch {
        return true;
      }
    });
    expect(missing).toEqual([]);
  });

  it('the README stays a front page, and the docs pages it promises exist and are linked from it', () => {
    const readme = read('README.md');
    expect(readme.split('\n').length).toBeLessThanOrEqual(README_MAX_LINES);
    for (const page of DOCS_PAGES) {
      expect(() => read(`docs/${page}`), page).not.toThrow();
      expect(readme, `README links docs/${page}`).toContain(`](docs/${page}`);
    }
  });
});

describe('docs/configuration.md', () => {
  const page = read('docs/configuration.md');

  it('documents exactly the environment variables each reader reads, naming every reader', () => {
    const rows = tableRows(section(page, 'Environment variables', 'configuration.md')).filter((row) => codeSpans(row[0] ?? '').length > 0);
    const documented = new Map<string, Set<string>>();
    for (const row of rows) {
      const readers = (row[1] ?? '').split(',').map((r) => r.trim());
      for (const reader of readers) {
        expect(Object.keys(ENV_READERS), `unknown reader "${reader}" for ${row[0]}`).toContain(reader);
        for (const name of codeSpans(row[0]!)) documented.set(reader, (documented.get(reader) ?? new Set()).add(name));
      }
    }
    for (const [reader, names] of Object.entries(ENV_READERS)) {
      expect(sorted(documented.get(reader) ?? []), `variables read by ${reader}`).toEqual(sorted(names));
    }
    const names = rows.flatMap((row) => codeSpans(row[0]!));
    expect(names.length, 'each variable has one row').toBe(new Set(names).size);
  });

  it('documents exactly the CDK context keys the app reads', () => {
    const keys = tableRows(section(page, 'CDK context', 'configuration.md')).flatMap((row) => codeSpans(row[0] ?? ''));
    // stackName is read by the app itself, beside the validated settings.
    expect(read('packages/infra/src/app.ts')).toContain("tryGetContext('stackName')");
    expect(sorted(keys)).toEqual(sorted([...Object.keys(reviveContextSchema.in.shape), 'stackName']));
  });

  it("documents exactly the flags of every revive command, and every command", () => {
    const leaves = (command: Command, prefix: string): [string, Command][] =>
      command.commands.length === 0 ? [[prefix, command]] : command.commands.flatMap((sub) => leaves(sub, `${prefix} ${sub.name()}`));
    const commands = leaves(buildProgram(() => undefined), 'revive');
    expect(commands.length).toBeGreaterThanOrEqual(5);
    for (const [name, command] of commands) {
      const rows = tableRows(section(page, `\`${name}\``, 'configuration.md'));
      const documented = rows.flatMap((row) => [...(row[0] ?? '').matchAll(/--[a-z][a-z-]*/g)].map((m) => m[0]));
      expect(sorted(documented), name).toEqual(sorted(command.options.map((o) => o.long ?? o.flags)));
    }
  });

  it('documents exactly the flags pnpm start reads', () => {
    const documented = tableRows(section(page, '`pnpm start` flags', 'configuration.md')).flatMap((row) => codeSpans(row[0] ?? ''));
    const sources = sourceFiles('packages/dev-stack/src', (f) => !isTest(f) && !f.includes('/web/')).map(read).join('\n');
    const read_ = [...sources.matchAll(/argv\.includes\(\s*'(--[a-z][a-z-]*)'/g)].map((m) => m[1]!);
    expect(sorted(documented)).toEqual(sorted(read_));
  });
});

describe('docs/api.md', () => {
  const page = read('docs/api.md');

  it('lists every route of the route table once, and marks only the public ones public', () => {
    const rows = tableRows(section(page, 'Routes', 'api.md'));
    const listed = rows.flatMap((row) => codeSpans(row[0] ?? ''));
    expect(repeated(listed), 'routes listed twice').toEqual([]);
    expect(sorted(listed)).toEqual(sorted(API_ROUTES.map((r) => `${r.method} ${r.path}`)));
    for (const route of API_ROUTES) {
      const row = rows.find((r) => codeSpans(r[0] ?? '').includes(`${route.method} ${route.path}`))!;
      expect(row.join('|').includes('**public**'), `${route.method} ${route.path} public`).toBe(route.public === true);
    }
  });

  it("describes each of the job's fields once", () => {
    const fields = tableRows(section(page, 'The job', 'api.md')).flatMap((row) => codeSpans(row[0] ?? ''));
    expect(repeated(fields)).toEqual([]);
  });

  it('lists every API error code once', () => {
    const codes = tableRows(section(page, 'Errors', 'api.md')).flatMap((row) => codeSpans(row[1] ?? ''));
    expect(repeated(codes), 'codes listed twice').toEqual([]);
    expect(sorted(codes)).toEqual(sorted(API_ERROR_CODES));
  });

  it('lists every job error code once', () => {
    const codes = tableRows(section(page, 'Job error codes', 'api.md')).flatMap((row) => codeSpans(row[0] ?? ''));
    expect(repeated(codes), 'codes listed twice').toEqual([]);
    expect(sorted(codes)).toEqual(sorted(JOB_ERROR_CODES));
  });
});

describe('docs/decisions', () => {
  it('every decision record is dated and listed in the index', () => {
    const index = read('docs/decisions/README.md');
    const records = readdirSync(path.join(ROOT, 'docs/decisions')).filter((f) => f.endsWith('.md') && f !== 'README.md');
    expect(records.length).toBeGreaterThanOrEqual(7);
    for (const record of records) {
      expect(index, `index links ${record}`).toContain(`](${record})`);
      const head = sections(read(`docs/decisions/${record}`)).find((s) => s.level === 1);
      expect(head, `${record} has a title`).toBeDefined();
      expect(read(`docs/decisions/${record}`), `${record} has a date`).toMatch(/^Date: \d{4}-\d{2}-\d{2}/m);
    }
  });
});
