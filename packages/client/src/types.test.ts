import type * as Contract from '@revive/contract';
import { describe, expectTypeOf, it } from 'vitest';
import type { WebhookEvent } from './webhook.js';
import type * as Client from './types.js';

/**
 * What the job gains for videos and albums, as agreed for the branch that adds them (`POST /videos`, `POST /albums`):
 * until the contract declares these fields the client's job is the contract's plus them; once it does, the
 * intersection is the contract's own job and the check holds unchanged.
 */
type AgreedParentFields = {
  kind: 'photo' | 'video' | 'album';
  parent_id: string | null;
  progress: { total: number; done: number; failed: number; frames_total: number | null; frames_done: number | null; eta_seconds: number | null } | null;
  urls: { get: string; cancel: string; children?: string | undefined };
};
type AgreedJobErrorCodes = 'ALBUM_PARTLY_FAILED' | 'SEGMENT_FAILED' | 'VIDEO_UNREADABLE' | 'VIDEO_NO_VIDEO_STREAM' | 'VIDEO_TOO_LONG' | 'VIDEO_TOO_LARGE' | 'VIDEO_ENCODE_FAILED';

// Compile-time checks, run by `pnpm typecheck` (tsc over the tests): the client's own declarations of the API's
// bodies are exactly the contract's zod inferences, so neither can drift from the other.
describe("the client's API types", () => {
  it('are exactly the contract’s', () => {
    expectTypeOf<Client.ApiErrorCode>().toEqualTypeOf<Contract.ApiErrorCode>();
    expectTypeOf<Client.JobStatus>().toEqualTypeOf<Contract.JobStatus>();
    expectTypeOf<Client.JobErrorCode>().toEqualTypeOf<Contract.JobErrorCode | AgreedJobErrorCodes>();
    expectTypeOf<Client.OutputExt>().toEqualTypeOf<Contract.OutputExt>();
    expectTypeOf<Client.Problem>().toEqualTypeOf<Contract.Problem>();
    expectTypeOf<Client.CreateUploadResponse>().toEqualTypeOf<Contract.CreateUploadResponse>();
    expectTypeOf<Client.CreateJobSource>().toEqualTypeOf<Contract.CreateJobSource>();
    expectTypeOf<Client.JobOptionsInput>().toEqualTypeOf<Contract.JobOptionsInput>();
    expectTypeOf<Client.JobOptions>().toEqualTypeOf<Contract.JobOptions>();
    expectTypeOf<Client.JobFace>().toEqualTypeOf<Contract.JobFace>();
    expectTypeOf<Client.WebhookDeliveryStatus>().toEqualTypeOf<Contract.WebhookDelivery['status']>();
    type Agreed = keyof AgreedParentFields | 'error';
    expectTypeOf<Omit<Client.JobResponse, Agreed>>().toEqualTypeOf<Omit<Contract.JobResponse, Agreed>>();
    expectTypeOf<Pick<Client.JobResponse, keyof AgreedParentFields>>().toEqualTypeOf<AgreedParentFields>();
    expectTypeOf<Client.JobResponse['error']>().toEqualTypeOf<{ code: Contract.JobErrorCode | AgreedJobErrorCodes; message: string } | null>();
    expectTypeOf<Client.JobListResponse['next_cursor']>().toEqualTypeOf<Contract.JobListResponse['next_cursor']>();
    expectTypeOf<Client.VideoUploadContentType>().toEqualTypeOf<Contract.VideoUploadContentType>();
    expectTypeOf<Client.CreateMultipartUploadRequest>().toEqualTypeOf<Contract.CreateMultipartUploadRequest>();
    expectTypeOf<Client.CreateMultipartUploadResponse>().toEqualTypeOf<Contract.CreateMultipartUploadResponse>();
    expectTypeOf<Client.CompleteMultipartUploadRequest>().toEqualTypeOf<Contract.CompleteMultipartUploadRequest>();
    expectTypeOf<Client.CompleteMultipartUploadResponse>().toEqualTypeOf<Contract.CompleteMultipartUploadResponse>();
    expectTypeOf<WebhookEvent>().toEqualTypeOf<Contract.WebhookEvent>();
  });
});
