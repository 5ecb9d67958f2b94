import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { childJobId, jobOptionsSchema, type JobMessage, type JobRecord } from '@revive/contract';
import { probeVideo } from '@revive/pipeline/video';
import { makeTestVideo } from '@revive/pipeline/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobWork, ParentWork } from '../job-budget.js';
import type { TaskContext, TaskResult } from './task.js';
import { probeKey, VideoTask, type VideoTaskDeps } from './video.js';

let dir: string;
let video: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'revive-video-task-'));
  video = await makeTestVideo(dir, 'in.mp4', { seconds: 1, fps: 5, audio: false });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('VideoTask finishing a video whose segments all succeeded', () => {
  it('grows its budget with the video, uploads the result, but deletes the probe and segments only in afterSuccess (after the success is recorded)', async () => {
    const probe = await probeVideo(video);
    const videoId = crypto.randomUUID();
    const options = jobOptionsSchema.parse({ upscale: 1 });
    const common = { tenantId: 't', options, attempts: 1, createdAt: new Date().toISOString(), expiresAt: 0 };
    const source = { kind: 's3' as const, key: 'uploads/t/in.mp4' };
    const segmentKey = `segments/t/${videoId}/0.mp4`;
    const records = new Map<string, JobRecord>([
      [videoId, { ...common, jobId: videoId, status: 'RUNNING', kind: 'video', source, childrenTotal: 1 }],
      // The input itself stands in for its one restored segment (same frames, H.264).
      [childJobId(videoId, 0), { ...common, jobId: childJobId(videoId, 0), status: 'SUCCEEDED', kind: 'video-segment', parentJobId: videoId, childIndex: 0, countedOnParent: true, source, resultKey: segmentKey }],
    ]);
    const objects = new Map<string, () => Readable>([
      [probeKey('t', videoId), () => Readable.from([Buffer.from(JSON.stringify(probe))])],
      [segmentKey, () => createReadStream(video)],
    ]);
    const deleted: string[] = [];
    const uploaded: string[] = [];
    const deps: VideoTaskDeps = {
      http: { fetchVideoToFile: async () => Promise.reject(new Error('no URL source here')) },
      store: {
        get: async (id) => records.get(id),
        getMany: async (ids) => new Map(ids.flatMap((id) => (records.has(id) ? [[id, records.get(id)!] as const] : []))),
        countChildEnd: async () => false,
        putChild: async () => true,
        setPlan: async () => true,
        clearPending: async () => undefined,
      },
      objects: {
        getObjectStream: async (key) => objects.get(key)!(),
        putResult: async () => undefined,
        putResultFile: async (key) => void uploaded.push(key),
        presignGet: async () => video,
        deleteObjects: async (keys) => void deleted.push(...keys),
      },
      queue: { sendBatch: async () => undefined },
    };
    const work: (JobWork | ParentWork)[] = [];
    const context: TaskContext = { owner: 'w', attempt: 1, signal: new AbortController().signal, startBudget: () => undefined, workFound: (w) => work.push(w), abandoned: false };
    const message: JobMessage = { version: 1, jobId: videoId, tenantId: 't', source, options, enqueuedAt: new Date().toISOString(), kind: 'video' };
    const result = (await new VideoTask(deps, { maxBytes: 2 ** 30, maxDurationSeconds: 60, maxPixelsPerFrame: 2 ** 24, workDir: dir }).run(message, context)) as TaskResult;

    expect(uploaded).toHaveLength(1);
    // Its budget grew with what it muxes: every frame, the input's bytes, its one segment.
    expect(work).toEqual([{ bytes: probe.sizeBytes, frames: probe.video.frameCount, children: 1 }]);
    // The success is not recorded yet: a failed final write must leave the retry its probe and segments.
    expect(deleted).toEqual([]);
    await result.afterSuccess!();
    expect(deleted).toEqual(expect.arrayContaining([probeKey('t', videoId), segmentKey]));
  });
});
