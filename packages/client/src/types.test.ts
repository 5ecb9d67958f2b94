import type * as Contract from '@revive/contract';
import { describe, expectTypeOf, it } from 'vitest';
import type { WebhookEvent } from './webhook.js';
import type * as Client from './types.js';

// Compile-time checks, run by `pnpm typecheck` (tsc over the tests): the client's own declarations of the API's
// bodies are exactly the contract's zod inferences, so neither can drift from the other.
describe("the client's API types", () => {
  it('are exactly the contract’s', () => {
    expectTypeOf<Client.ApiErrorCode>().toEqualTypeOf<Contract.ApiErrorCode>();
    expectTypeOf<Client.JobStatus>().toEqualTypeOf<Contract.JobStatus>();
    expectTypeOf<Client.JobErrorCode>().toEqualTypeOf<Contract.JobErrorCode>();
    expectTypeOf<Client.OutputExt>().toEqualTypeOf<Contract.OutputExt>();
    expectTypeOf<Client.Problem>().toEqualTypeOf<Contract.Problem>();
    expectTypeOf<Client.CreateUploadResponse>().toEqualTypeOf<Contract.CreateUploadResponse>();
    expectTypeOf<Client.CreateJobSource>().toEqualTypeOf<Contract.CreateJobSource>();
    expectTypeOf<Client.JobOptionsInput>().toEqualTypeOf<Contract.JobOptionsInput>();
    expectTypeOf<Client.JobOptions>().toEqualTypeOf<Contract.JobOptions>();
    expectTypeOf<Client.JobFace>().toEqualTypeOf<Contract.JobFace>();
    expectTypeOf<Client.WebhookDeliveryStatus>().toEqualTypeOf<Contract.WebhookDelivery['status']>();
    expectTypeOf<Client.JobResponse>().toEqualTypeOf<Contract.JobResponse>();
    expectTypeOf<Client.JobListResponse>().toEqualTypeOf<Contract.JobListResponse>();
    expectTypeOf<Client.JobKind>().toEqualTypeOf<Contract.JobResponse['kind']>();
    expectTypeOf<Client.JobProgress>().toEqualTypeOf<NonNullable<Contract.JobResponse['progress']>>();
    expectTypeOf<Client.VideoContentType>().toEqualTypeOf<Contract.VideoContentType>();
    expectTypeOf<Client.CreateMultipartUploadRequest>().toEqualTypeOf<Contract.CreateMultipartUploadRequest>();
    expectTypeOf<Client.CreateMultipartUploadResponse>().toEqualTypeOf<Contract.CreateMultipartUploadResponse>();
    expectTypeOf<Client.SignMultipartUploadPartsRequest>().toEqualTypeOf<Contract.SignMultipartUploadPartsRequest>();
    expectTypeOf<Client.SignMultipartUploadPartsResponse>().toEqualTypeOf<Contract.SignMultipartUploadPartsResponse>();
    expectTypeOf<Client.CompleteMultipartUploadRequest>().toEqualTypeOf<Contract.CompleteMultipartUploadRequest>();
    expectTypeOf<Client.CompleteMultipartUploadResponse>().toEqualTypeOf<Contract.CompleteMultipartUploadResponse>();
    expectTypeOf<WebhookEvent>().toEqualTypeOf<Contract.WebhookEvent>();
  });
});
