import type {} from 'vitest';
import type { TestProject } from 'vitest/node';
import { startLocalAws } from './emulators.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The emulators one test project shares; each test file creates its own resources with a unique prefix. */
    localAws: { endpoints: { sqs: string; s3: string; dynamodb: string }; region: string; dynamoEngine: string };
  }
}

/** Vitest globalSetup for integration projects: one set of emulators per project (vitest runs it once for each project that names it). */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const aws = await startLocalAws();
  project.provide('localAws', { endpoints: aws.endpoints, region: aws.region, dynamoEngine: aws.dynamoEngine });
  return async () => await aws.stop();
}
