import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Environment } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { createApp } from '../src/app.js';
import type { ReviveStack } from '../src/stack.js';

/**
 * A gpuProviderSha256 for synthesis only: synth never downloads the package, and an image build with it fails its
 * checksum check, so it can never put an unverified provider into an image.
 */
export const TEST_GPU_PROVIDER_SHA256 = '0'.repeat(64);

/** Context every test synthesis starts from; values differ from the defaults so the mapping is visible. */
export const BASE_CONTEXT = {
  gpuProviderSha256: TEST_GPU_PROVIDER_SHA256,
  jwtIssuer: 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_TEST',
  jwtAudience: 'revive-web,revive-cli',
  corsAllowedOrigins: 'https://app.example.com,http://localhost:5173',
  uploadExpiryDays: 2,
  jobTtlDays: 5,
  maxTasks: 6,
  acceptableLatencySeconds: 120,
  secondsPerJob: 15,
  alarmEmail: 'oncall@example.com',
} as const;

export interface Synthesized {
  readonly stack: ReviveStack;
  readonly template: Template;
  /** The assembly's asset manifest (Docker image sources). */
  readonly assets: { dockerImages: Record<string, { source: { directory: string; dockerFile?: string; platform?: string } }> };
  /** CDK's validation report, where cdk-nag v3 reports. */
  readonly validationReport: {
    pluginReports: {
      pluginName: string;
      conclusion: string;
      violations: { ruleName: string; severity: string }[];
      suppressedViolations?: { ruleName: string; acknowledgedId?: string; reason?: string }[];
    }[];
  };
}

/**
 * One output folder per test process: CDK's asset cache (keyed by source, bundling options and output folder) then
 * reuses the esbuild bundles and the image fingerprint across syntheses instead of redoing them for each. Every
 * synthesis's files are read before the next one replaces them.
 */
let outdir: string | undefined;

/** A concrete account and region, as the CDK CLI always resolves one (us-east-1 by default, or AWS_REGION). */
export const CONCRETE_ENV: Environment = { account: '123456789012', region: 'eu-west-1' };
/** No account or region: region and account stay CloudFormation pseudo parameters. */
export const AGNOSTIC_ENV: Environment = { account: undefined, region: undefined };

/**
 * Synthesizes the whole app (with cdk-nag registered and cdk.json's feature flags, exactly as cdk.json runs it) into
 * a fresh folder. @default env AGNOSTIC_ENV
 */
export function synthesize(context: Record<string, unknown>, env: Environment = AGNOSTIC_ENV): Synthesized {
  outdir ??= mkdtempSync(join(tmpdir(), 'revive-infra-'));
  const { app, stack } = createApp({ ...BASE_CONTEXT, ...context }, outdir, env);
  const assembly = app.synth();
  const read = (file: string) => JSON.parse(readFileSync(join(assembly.directory, file), 'utf8'));
  return {
    stack,
    template: Template.fromStack(stack),
    assets: read(`${stack.artifactId}.assets.json`),
    validationReport: read('validation-report.json'),
  };
}
