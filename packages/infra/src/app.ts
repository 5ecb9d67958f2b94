import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { loadReviveConfig } from './config.js';
import { ReviveStack } from './stack.js';

/** The stack's name; `-c stackName=...` deploys a second copy (e.g. a GPU stack beside a CPU one). */
export const DEFAULT_STACK_NAME = 'Revive';

/**
 * Feature flags the app relies on, set here so that `cdk synth` and the tests build the same template.
 * serverAccessLogsUseBucketPolicy: S3 log delivery through a bucket policy, so the log bucket keeps ACLs disabled.
 */
export const FEATURE_FLAGS: Readonly<Record<string, unknown>> = {
  '@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy': true,
};

/** Builds the app from context: used by cdk.json and by the tests. */
export function createApp(context: Record<string, unknown> = {}, outdir?: string): { app: App; stack: ReviveStack } {
  const app = new App({ context: { ...FEATURE_FLAGS, ...context }, ...(outdir !== undefined ? { outdir } : {}) });
  const config = loadReviveConfig((key) => app.node.tryGetContext(key));
  const stackName = (app.node.tryGetContext('stackName') as string | undefined) ?? DEFAULT_STACK_NAME;
  const stack = new ReviveStack(app, stackName, {
    config,
    description: `Revive face restoration (${config.workerMode} workers)`,
    env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  createApp().app.synth();
}
