// The client has no runtime dependency, so it holds its own copies of a few contract values (the same names, the
// same meaning): contract's workspace test allows exactly these duplicates, and this test keeps them equal.
import * as contract from '@revive/contract';
import { describe, expect, it } from 'vitest';
import * as client from './index.js';

/** Compile-time: the client's options type and the contract's accept the same objects. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const sameVerifyOptions: Same<client.VerifyWebhookOptions, contract.VerifyWebhookOptions> = true;

describe("the client's copies of contract values", () => {
  it('hold the same values as the contract', () => {
    expect(sameVerifyOptions).toBe(true);
    expect([...client.API_ERROR_CODES].sort()).toEqual([...contract.API_ERROR_CODES].sort());
    expect([...client.TERMINAL_STATUSES].sort()).toEqual([...contract.TERMINAL_STATUSES].sort());
    expect([...client.UPLOAD_CONTENT_TYPES].sort()).toEqual([...contract.UPLOAD_CONTENT_TYPES].sort());
    expect(client.WEBHOOK_SIGNATURE_HEADER).toBe(contract.WEBHOOK_SIGNATURE_HEADER);
    expect(client.DEFAULT_WEBHOOK_TOLERANCE_SECONDS).toBe(contract.DEFAULT_WEBHOOK_TOLERANCE_SECONDS);
  });

  it("verify the contract's webhook signatures alike, at the edge of the tolerance and past it", async () => {
    const body = '{"id":"j"}';
    const signedAt = 1_700_000_000;
    const header = contract.signWebhook('s'.repeat(32), body, signedAt);
    const clocks = [signedAt, signedAt + contract.DEFAULT_WEBHOOK_TOLERANCE_SECONDS, signedAt + contract.DEFAULT_WEBHOOK_TOLERANCE_SECONDS + 1];
    const theirs = clocks.map((nowSeconds) => contract.verifyWebhook('s'.repeat(32), body, header, { nowSeconds }));
    const ours = await Promise.all(clocks.map((nowSeconds) => client.verifyWebhook(body, header, 's'.repeat(32), { nowSeconds })));
    expect(theirs).toEqual([true, true, false]);
    expect(ours).toEqual(theirs);
  });
});
