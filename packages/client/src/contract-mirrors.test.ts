// The client has no runtime dependency, so it holds its own copies of a few contract values (the same names, the
// same meaning): contract's workspace test allows exactly these duplicates, and this test keeps them equal.
import * as contract from '@revive/contract';
import { describe, expect, it } from 'vitest';
import * as client from './index.js';

describe("the client's copies of contract values", () => {
  it('hold the same values as the contract', () => {
    expect([...client.API_ERROR_CODES].sort()).toEqual([...contract.API_ERROR_CODES].sort());
    expect([...client.TERMINAL_STATUSES].sort()).toEqual([...contract.TERMINAL_STATUSES].sort());
    expect([...client.UPLOAD_CONTENT_TYPES].sort()).toEqual([...contract.UPLOAD_CONTENT_TYPES].sort());
    expect([...client.VIDEO_CONTENT_TYPES].sort()).toEqual([...contract.VIDEO_CONTENT_TYPES].sort());
    // HTTP header names are case-insensitive; the spec's are lower case.
    for (const name of ['WEBHOOK_ID_HEADER', 'WEBHOOK_TIMESTAMP_HEADER', 'WEBHOOK_SIGNATURE_HEADER', 'WEBHOOK_EVENT_HEADER'] as const) {
      expect(client[name].toLowerCase(), name).toBe(contract[name].toLowerCase());
    }
    expect(client.WEBHOOK_SECRET_PREFIX).toBe(contract.WEBHOOK_SECRET_PREFIX);
    expect(client.DEFAULT_WEBHOOK_TOLERANCE_SECONDS).toBe(contract.DEFAULT_WEBHOOK_TOLERANCE_SECONDS);
  });

  it("accepts the contract's (the worker's) signatures up to the edge of the tolerance, and refuses them past it", async () => {
    const secret = `whsec_${Buffer.from('s'.repeat(32)).toString('base64')}`;
    const body = '{"id":"j"}';
    const signedAt = 1_700_000_000;
    const id = contract.webhookMessageId('j', 'job.succeeded');
    const headers = {
      [contract.WEBHOOK_ID_HEADER]: id,
      [contract.WEBHOOK_TIMESTAMP_HEADER]: String(signedAt),
      [contract.WEBHOOK_SIGNATURE_HEADER]: contract.signWebhook(secret, id, signedAt, body),
    };
    const tolerance = contract.DEFAULT_WEBHOOK_TOLERANCE_SECONDS;
    const clocks = [signedAt, signedAt + tolerance, signedAt + tolerance + 1, signedAt - tolerance - 1];
    const verdicts = await Promise.all(clocks.map((nowSeconds) => client.verifyWebhook(body, headers, secret, { nowSeconds })));
    expect(verdicts).toEqual([true, true, false, false]);
    expect(await client.verifyWebhook(`${body} `, headers, secret, { nowSeconds: signedAt })).toBe(false);
  });
});
