import { Readable } from 'node:stream';
import { childJobId, jobOptionsSchema, type JobMessage, type JobRecord } from '@revive/contract';
import { describe, expect, it } from 'vitest';
import type { JobWork, ParentWork } from '../job-budget.js';
import { AlbumTask, type AlbumTaskDeps } from './album.js';
import type { TaskContext } from './task.js';

const options = jobOptionsSchema.parse({ upscale: 1 });
const now = new Date().toISOString();

/** An album of `photos` succeeded photos, each result a few bytes held in memory. */
function album(photos: number): { deps: AlbumTaskDeps; message: JobMessage; uploaded: string[] } {
  const albumId = crypto.randomUUID();
  const common = { tenantId: 't', options, attempts: 1, createdAt: now, expiresAt: 0 };
  const records = new Map<string, JobRecord>();
  records.set(albumId, { ...common, jobId: albumId, status: 'RUNNING', kind: 'album', source: { kind: 'album', photos }, childrenTotal: photos });
  for (let i = 0; i < photos; i++) {
    const jobId = childJobId(albumId, i);
    records.set(jobId, { ...common, jobId, status: 'SUCCEEDED', kind: 'photo', parentJobId: albumId, childIndex: i, countedOnParent: true, source: { kind: 's3', key: `uploads/t/${i}` }, resultKey: `results/t/${jobId}.jpg`, finishedAt: now });
  }
  const uploaded: string[] = [];
  const deps: AlbumTaskDeps = {
    store: {
      get: async (id) => records.get(id),
      getMany: async (ids) => new Map(ids.flatMap((id) => (records.has(id) ? [[id, records.get(id)!] as const] : []))),
      countChildEnd: async () => false,
    },
    objects: {
      getObjectStream: async () => Readable.from([Buffer.from('jpeg bytes')]),
      putResultStream: async (key, body) => {
        for await (const _ of body) void _;
        uploaded.push(key);
      },
    },
  };
  return { deps, message: { version: 1, jobId: albumId, tenantId: 't', source: { kind: 'album', photos }, options, enqueuedAt: now, kind: 'album' }, uploaded };
}

describe('AlbumTask', () => {
  it("grows the album's budget with its photos before it writes the ZIP", async () => {
    const { deps, message, uploaded } = album(25);
    const work: (JobWork | ParentWork)[] = [];
    const context: TaskContext = { owner: 'w', attempt: 1, signal: new AbortController().signal, startBudget: () => undefined, workFound: (w) => work.push(w), abandoned: false };
    const outcome = await new AlbumTask(deps).run(message, context);
    expect(outcome).toMatchObject({ success: { resultKey: expect.any(String) } });
    expect(uploaded).toHaveLength(1);
    expect(work).toEqual([{ children: 25 }]);
  });
});
