// Rules about the whole workspace that no single package's lint or types can see: test titles say behaviour, the
// package boundaries hold in package.json and in imports, and an exported name means one thing across packages.
// Here because every package depends on the contract and its unit project is the fastest to run.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const REPO = path.resolve(import.meta.dirname, '../../..');
const PACKAGES_DIR = path.join(REPO, 'packages');
const PACKAGES = readdirSync(PACKAGES_DIR, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name)
  .sort();
const SKIPPED_DIRS = new Set(['node_modules', 'dist', 'out', 'coverage']);
const SOURCE_FILE = /\.(?:[cm]?ts|[cm]?js)$/;

/** Files under `dir` (relative to the repository), skipping build output and dependencies. */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (abs: string) => {
    let entries;
    try {
      entries = readdirSync(abs, { withFileTypes: true });
    } catch {
      return; // a package without that folder
    }
    for (const entry of entries) {
      if (entry.isDirectory()) {
        if (!SKIPPED_DIRS.has(entry.name)) walk(path.join(abs, entry.name));
      } else if (entry.isFile()) {
        out.push(path.relative(REPO, path.join(abs, entry.name)));
      }
    }
  };
  walk(path.join(REPO, dir));
  return out.sort();
}
const read = (file: string) => readFileSync(path.join(REPO, file), 'utf8');
const lineOf = (text: string, index: number) => text.slice(0, index).split('\n').length;

/** Product source of a package: its src/, without tests and the src/testing/ helpers. */
const isProductSource = (file: string) =>
  SOURCE_FILE.test(file) && !/\.test\.[cm]?[jt]s$/.test(file) && !file.split(path.sep).includes('testing');
const productSources = (pkg: string) => filesUnder(path.join('packages', pkg, 'src')).filter(isProductSource);

// ----- test titles -----

/** `describe|it|test|bench`, optional modifiers (`.each([...])`, `.runIf(cond)`, `.skip`), then the title literal. */
const TITLE = /\b(?:describe|it|test|bench)(?:\.\w+(?:\((?:[^()]|\([^()]*\))*\))?)*\(\s*(['"`])((?:\\.|(?!\1)[\s\S])*?)\1/g;
/**
 * An issue reference instead of behaviour: "issue 10", "issue 18.11", "#14", "(item 7)", "point 12", "local-fix 1".
 * Words only (`issuer`, "no point beats a wrong one" pass).
 */
const ISSUE_REFERENCE = /\bissues?\s*#?\d|#\d|\b(?:items?|points?|fix(?:es)?)\s+\d/i;

/** Every test title in the workspace's test files, with where it is. */
function testTitles(): { where: string; title: string }[] {
  return PACKAGES.flatMap((pkg) => filesUnder(path.join('packages', pkg)).filter((f) => /\.test\.[cm]?[jt]s$/.test(f))).flatMap((file) => {
    const text = read(file);
    return [...text.matchAll(TITLE)].map((m) => ({ where: `${file}:${lineOf(text, m.index)}`, title: m[2]! }));
  });
}

describe('test titles', () => {
  it('the issue-reference rule catches each notation used so far, and not words that merely contain one', () => {
    for (const title of ['issue 10 point 9: clean exit', 'issue 18.11: streams', 'format limits (issue 18 item 2)', 'cdk destroy (item 7)', 'fixes #14', 'local-fix 1: Ctrl-C']) {
      expect(ISSUE_REFERENCE.test(title), title).toBe(true);
    }
    for (const title of ['requires the JWT issuer and audience', 'no point beats a wrong one', 'refuses counts that are not whole numbers', 'an 8001×8000 photo']) {
      expect(ISSUE_REFERENCE.test(title), title).toBe(false);
    }
  });

  it('say the behaviour they check, never an issue, item or point number', () => {
    const titles = testTitles();
    // The reader must see the workspace's tests, or an empty list would pass.
    expect(titles.length).toBeGreaterThan(300);
    expect(titles.filter(({ title }) => ISSUE_REFERENCE.test(title))).toEqual([]);
  });
});

// ----- package boundaries -----

interface PackageJson {
  readonly name: string;
  readonly dependencies?: Record<string, string>;
  readonly devDependencies?: Record<string, string>;
  readonly peerDependencies?: Record<string, string>;
  readonly optionalDependencies?: Record<string, string>;
}
const manifests = PACKAGES.map((pkg) => ({ pkg, json: JSON.parse(read(path.join('packages', pkg, 'package.json'))) as PackageJson }));
const manifest = (pkg: string) => manifests.find((m) => m.pkg === pkg)!.json;

/** The runtime of the worker side: what the API and the infra must reach only through the contract. */
const WORKER_SIDE = ['@revive/worker', '@revive/pipeline', '@revive/dev-stack'];
/** AWS clients and services: the pipeline runs anywhere (the CLI, tests) without them. */
const isAwsPackage = (name: string) => name.startsWith('@aws-sdk/') || name.startsWith('@aws-lambda-powertools/') || name === 'sqs-consumer';
/** A module specifier that names a testing module: `@revive/pipeline/testing`, `./testing/x.js`, `../testing.js`. */
const TESTING_SPECIFIER = /(?:^|\/)testing(?:\/|\.[cm]?[jt]s$|$)/;
/** Every module specifier of `import`/`export … from`, side-effect imports and dynamic `import()`. */
const SPECIFIER = /\b(?:from|import)\s*\(?\s*(['"])([^'"\n]+)\1/g;

function specifiers(file: string): { where: string; specifier: string }[] {
  const text = read(file);
  return [...text.matchAll(SPECIFIER)].map((m) => ({ where: `${file}:${lineOf(text, m.index)}`, specifier: m[2]! }));
}

describe('package boundaries', () => {
  it('the API and the infra do not depend on the worker, the pipeline or the dev stack', () => {
    const found = ['api', 'infra'].flatMap((pkg) => Object.keys(manifest(pkg).dependencies ?? {}).filter((d) => WORKER_SIDE.includes(d)).map((d) => `${pkg} → ${d}`));
    expect(found).toEqual([]);
  });

  it('the pipeline depends on no AWS SDK, Powertools or sqs-consumer', () => {
    const pipeline = manifest('pipeline');
    const all = [pipeline.dependencies, pipeline.devDependencies, pipeline.peerDependencies, pipeline.optionalDependencies].flatMap((d) => Object.keys(d ?? {}));
    expect(all.length, 'the pipeline has dependencies to check').toBeGreaterThan(0);
    expect(all.filter(isAwsPackage)).toEqual([]);
  });

  it('no product source imports a testing module', () => {
    const imports = PACKAGES.flatMap(productSources).flatMap(specifiers);
    expect(imports.length, 'the product sources import something').toBeGreaterThan(100);
    expect(imports.filter(({ specifier }) => TESTING_SPECIFIER.test(specifier))).toEqual([]);
  });

  it('the testing-module rule catches package, folder and file forms, and not names that merely contain the word', () => {
    for (const s of ['@revive/pipeline/testing', './testing/index.js', '../testing.js', './testing']) expect(TESTING_SPECIFIER.test(s), s).toBe(true);
    for (const s of ['./load-testing-notes.js', 'node:test', './attesting.js']) expect(TESTING_SPECIFIER.test(s), s).toBe(false);
  });
});

// ----- exported names -----

/**
 * Names declared in more than one package on purpose, with the same meaning or a name the platform imposes. Any other
 * name exported from two packages' sources is a second definition to remove or a clash to rename.
 */
const SAME_MEANING: Readonly<Record<string, { readonly packages: readonly string[]; readonly why: string }>> = {
  ...Object.fromEntries(
    [
      'API_ERROR_CODES',
      'TERMINAL_STATUSES',
      'UPLOAD_CONTENT_TYPES',
      'UploadContentType',
      'VIDEO_CONTENT_TYPES',
      'VideoContentType',
      'WEBHOOK_ID_HEADER',
      'WEBHOOK_TIMESTAMP_HEADER',
      'WEBHOOK_SIGNATURE_HEADER',
      'WEBHOOK_EVENT_HEADER',
      'WEBHOOK_SECRET_PREFIX',
      'DEFAULT_WEBHOOK_TOLERANCE_SECONDS',
      'WebhookEvent',
    ].map((name) => [
      name,
      { packages: ['client', 'contract'], why: "the client has no runtime dependency: it copies these, and client's contract-mirrors.test.ts keeps them equal" },
    ]),
  ),
  ...Object.fromEntries(
    [
      'ApiErrorCode',
      'CompleteMultipartUploadRequest',
      'CompleteMultipartUploadResponse',
      'CreateJobSource',
      'CreateMultipartUploadRequest',
      'CreateMultipartUploadResponse',
      'CreateUploadResponse',
      'JobErrorCode',
      'JobFace',
      'JobKind',
      'JobListResponse',
      'JobOptions',
      'JobOptionsInput',
      'JobResponse',
      'JobStatus',
      'OutputExt',
      'Problem',
      'SignMultipartUploadPartsRequest',
      'SignMultipartUploadPartsResponse',
    ].map((name) => [
      name,
      {
        packages: ['client', 'contract'],
        why: "the client's published declarations must not depend on zod, so it declares the API's types itself; client's types.test.ts checks each against the contract's at compile time",
      },
    ]),
  ),
  REPO_ROOT: { packages: ['dev-stack', 'infra'], why: 'each finds the checkout from its own files; neither may depend on the other' },
  handler: { packages: ['api', 'infra', 'worker'], why: "the name the Lambda runtime calls in each function's entry module" },
};

const EXPORTED_DECLARATION = /^export\s+(?:declare\s+)?(?:default\s+)?(?:abstract\s+)?(?:async\s+)?(?:class|interface|type|const|let|var|enum|function\*?)\s+([A-Za-z_$][\w$]*)/gm;

describe('exported names', () => {
  it('each exported class, interface, type, const and function name is declared in one package only', () => {
    const declaredIn = new Map<string, Set<string>>();
    for (const pkg of PACKAGES) {
      for (const file of filesUnder(path.join('packages', pkg, 'src')).filter((f) => SOURCE_FILE.test(f) && !/\.test\.[cm]?[jt]s$/.test(f))) {
        for (const m of read(file).matchAll(EXPORTED_DECLARATION)) {
          const packages = declaredIn.get(m[1]!) ?? new Set<string>();
          declaredIn.set(m[1]!, packages.add(pkg));
        }
      }
    }
    expect(declaredIn.size, 'the reader found the exports').toBeGreaterThan(300);
    const shared = [...declaredIn].filter(([, packages]) => packages.size > 1).map(([name, packages]) => ({ name, packages: [...packages].sort() }));
    const unexplained = shared.filter(({ name, packages }) => JSON.stringify(SAME_MEANING[name]?.packages) !== JSON.stringify(packages));
    expect(unexplained).toEqual([]);
    // An allowance that no longer matches anything is removed, so the list stays the list of real copies.
    expect(Object.keys(SAME_MEANING).filter((name) => !shared.some((s) => s.name === name))).toEqual([]);
  });
});
