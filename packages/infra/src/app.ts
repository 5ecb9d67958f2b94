import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, Validations, type Environment } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { loadReviveConfig, ReviveConfigError } from './config.js';
import { REPO_ROOT } from './paths.js';
import { ReviveStack } from './stack.js';

/** The stack's name; `-c stackName=...` deploys a second copy (e.g. a GPU stack beside a CPU one). */
export const DEFAULT_STACK_NAME = 'Revive';

/** cdk.json at the repository root: the CLI's app command and context. */
export const CDK_JSON_PATH = join(REPO_ROOT, 'cdk.json');

/** Context keys that are CDK feature flags, not Revive settings. */
const isFeatureFlag = (key: string): boolean => key.startsWith('@aws-cdk');

/**
 * The feature flags pinned in cdk.json (aws-cdk-lib's recommended set when the project was last upgraded), so a
 * CDK upgrade cannot silently change resources. The CLI passes them to the app itself; createApp reads them too, so
 * the tests build the same template as `cdk synth`.
 */
export function pinnedFeatureFlags(): Readonly<Record<string, unknown>> {
  const cdkJson = JSON.parse(readFileSync(CDK_JSON_PATH, 'utf8')) as { context?: Record<string, unknown> };
  return Object.fromEntries(Object.entries(cdkJson.context ?? {}).filter(([key]) => isFeatureFlag(key)));
}

/** Where the stack deploys: the CLI sets CDK_DEFAULT_ACCOUNT/REGION (it always resolves a region); tests pass one or none. */
function defaultEnvironment(): Environment {
  return { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION };
}

/**
 * Builds the app from context: used by cdk.json and by the tests.
 * @param env the stack's account and region. @default CDK_DEFAULT_ACCOUNT / CDK_DEFAULT_REGION (what the CLI sets)
 */
export function createApp(
  context: Record<string, unknown> = {},
  outdir?: string,
  env: Environment = defaultEnvironment(),
): { app: App; stack: ReviveStack } {
  const app = new App({ context: { ...pinnedFeatureFlags(), ...context }, ...(outdir !== undefined ? { outdir } : {}) });
  const config = loadReviveConfig((key) => app.node.tryGetContext(key));
  const stackName = (app.node.tryGetContext('stackName') as string | undefined) ?? DEFAULT_STACK_NAME;
  const stack = new ReviveStack(app, stackName, {
    config,
    description: `Revive face restoration (${config.workerMode} workers)`,
    env,
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    createApp().app.synth();
  } catch (error) {
    // A settings problem is the operator's to fix: the message says which setting and how, a stack trace adds noise.
    if (!(error instanceof ReviveConfigError)) throw error;
    console.error(error.message);
    process.exitCode = 1;
  }
}
