// Video jobs end to end against the local stack: POST /videos → the worker probes and fans the video out as segments
// on the job queue → each restored by the real `revive serve` → the finisher assembles them with the input's audio.
// Also what it refuses (at the API where the first bytes or size tell, else a FAILED job with a stable code), a cancel
// mid-video, and a worker killed with -9 mid-segment.
process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';

import type {} from '@revive/local-aws/vitest-setup';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { childJobId, jobListResponseSchema, jobResponseSchema, uploadKey, videoWorkPrefix, type JobResponse } from '@revive/contract';
import { audioPacketsMd5, makeTestVideo, photo, sharedDir, writeChannelProbeRestorer } from '@revive/pipeline/testing';
import { probeVideo } from '@revive/pipeline/video';
import { localClients } from '@revive/local-aws';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../src/stack.js';

const TENANT = 'video-tenant';
const FRAMES_PER_SEGMENT = 20;
let stack: LocalStack;
let dir: string;
let s3: S3Client;
let hookServer: Server;
let hookBase = '';
const hooks: string[] = [];
/** Videos the 127.0.0.2 server serves, by path. */
const videoFiles = new Map<string, string>();
const workerLog: string[] = [];

async function call(method: string, route: string, body?: unknown) {
  const res = await fetch(`${stack.server.url}${route}`, {
    method,
    headers: { 'content-type': 'application/json', 'x-revive-tenant': TENANT },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** Puts bytes where a completed multipart upload of the tenant's would be. */
async function putUpload(bytes: Uint8Array, contentType = 'video/mp4'): Promise<string> {
  const key = uploadKey(TENANT, randomUUID());
  await s3.send(new PutObjectCommand({ Bucket: stack.resources.bucketName, Key: key, Body: bytes, ContentType: contentType }));
  return key;
}

async function untilEnded(id: string, timeoutMs: number, seen: (job: JobResponse) => void = () => undefined): Promise<JobResponse> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const job = jobResponseSchema.parse((await call('GET', `/jobs/${id}`)).body);
    seen(job);
    if (!['QUEUED', 'RUNNING'].includes(job.status)) return job;
    if (Date.now() > deadline) throw new Error(`video ${id} still ${job.status} after ${timeoutMs} ms: ${JSON.stringify(job.progress)}\n${workerLog.slice(-30).join('\n')}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function segmentsOf(id: string): Promise<JobResponse[]> {
  return jobListResponseSchema.parse((await call('GET', `/jobs/${id}/children?limit=100`)).body).jobs;
}

async function workObjects(videoId: string): Promise<string[]> {
  const out = await s3.send(new ListObjectsV2Command({ Bucket: stack.resources.bucketName, Prefix: videoWorkPrefix(TENANT, videoId) }));
  return (out.Contents ?? []).map((o) => o.Key!);
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'revive-videos-'));
  const restorer = await writeChannelProbeRestorer(dir);
  hookServer = createServer((req, res) => {
    const served = videoFiles.get(req.url ?? '');
    if (served !== undefined) return void readFile(served).then((bytes) => res.writeHead(200, { 'content-type': 'video/mp4', 'content-length': bytes.length }).end(bytes));
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      hooks.push(body);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => hookServer.listen(0, '127.0.0.2', r));
  hookBase = `http://127.0.0.2:${(hookServer.address() as AddressInfo).port}`;
  stack = await startLocalStack({
    target: inject('localAws'),
    port: 0,
    env: {
      ...process.env,
      REVIVE_RESTORER: restorer,
      REVIVE_MODELS_DIR: path.join(sharedDir(), 'models'),
      REVIVE_WAIT_TIME_SECONDS: '1',
      REVIVE_CONCURRENCY: '2',
      REVIVE_URL_ALLOW_CIDRS: '127.0.0.2/32',
      // Short enough that a killed worker's segment comes back within the test.
      REVIVE_VISIBILITY_TIMEOUT_SECONDS: '8',
      REVIVE_HEARTBEAT_INTERVAL_SECONDS: '1',
      REVIVE_VIDEO_FRAMES_PER_SEGMENT: String(FRAMES_PER_SEGMENT),
      REVIVE_VIDEO_MAX_DURATION_SECONDS: '5',
      REVIVE_VIDEO_MAX_PIXELS_PER_FRAME: String(400 * 400),
      REVIVE_VIDEO_MAX_BYTES: String(3 * 1024 * 1024),
    },
    workerOutput: (line) => workerLog.push(line),
    log: (line) => workerLog.push(line),
  });
  s3 = localClients(stack.target).s3;
});
afterAll(async () => {
  await stack?.stop();
  s3?.destroy();
  hookServer?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('video jobs against the local stack', () => {
  it('restores a video in segments: same frames, rate and duration, audio packets unchanged, faces restored in every frame, one webhook', async () => {
    const file = await makeTestVideo(dir, 'two-faces.mp4', { seconds: 2, fps: 25, width: 240 });
    const input = await probeVideo(file);
    const created = await call('POST', '/videos', { source: { uploadKey: await putUpload(await readFile(file)) }, options: { upscale: 1 }, webhookUrl: `${hookBase}/hook` });
    expect(created.status, JSON.stringify(created.body)).toBe(202);
    const video = jobResponseSchema.parse(created.body);
    expect(video).toMatchObject({ kind: 'video', status: 'QUEUED' });
    const progress: NonNullable<JobResponse['progress']>[] = [];
    const ended = await untilEnded(video.id, 240_000, (j) => j.progress && progress.push(j.progress));
    expect(ended.status, `${JSON.stringify(ended.error)}\n${workerLog.slice(-30).join('\n')}`).toBe('SUCCEEDED');
    const segments = Math.ceil(input.video.frameCount / FRAMES_PER_SEGMENT);
    expect(ended.progress).toMatchObject({ total: segments, done: segments, failed: 0, frames_total: input.video.frameCount, frames_done: input.video.frameCount, eta_seconds: 0 });
    expect(progress.some((p) => p.frames_done !== null && p.frames_done > 0 && p.frames_done < input.video.frameCount)).toBe(true);

    const out = path.join(dir, 'restored.mp4');
    await writeFile(out, new Uint8Array(await (await fetch(ended.output!.url)).arrayBuffer()));
    const output = await probeVideo(out);
    expect(output.video.frameCount).toBe(input.video.frameCount);
    expect(output.video.averageFps).toBeCloseTo(input.video.averageFps, 3);
    expect(Math.abs(output.durationSeconds - input.durationSeconds)).toBeLessThanOrEqual(1 / input.video.averageFps);
    expect(await audioPacketsMd5(out)).toBe(await audioPacketsMd5(file));
    // Two faces in each frame, each restored by a restorer that changes every face it touches.
    expect(ended.metrics.faces_found).toBe(2 * input.video.frameCount);
    expect(ended.output).toMatchObject({ width: input.video.displayWidth, height: input.video.displayHeight });

    const children = await segmentsOf(video.id);
    expect(children.map((c) => [c.kind, c.status, c.parent_id])).toEqual(Array.from({ length: segments }, () => ['video-segment', 'SUCCEEDED', video.id]));
    expect(children[0]!.id).toBe(childJobId(video.id, 0));
    // No part left behind: the segments and the probe are deleted once assembled.
    expect(await workObjects(video.id)).toEqual([]);
    const deadline = Date.now() + 20_000;
    while (!hooks.some((h) => h.includes(video.id)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(hooks.filter((h) => h.includes(`"id":"${video.id}"`))).toHaveLength(1);
  }, 300_000);

  it('restores a video from a URL source, fetched once under the address rules; refuses a loopback URL at the API', async () => {
    const file = await makeTestVideo(dir, 'from-url.mp4', { seconds: 1, fps: 25, width: 160 });
    videoFiles.set('/from-url.mp4', file);
    const created = await call('POST', '/videos', { source: { url: `${hookBase}/from-url.mp4` }, options: { upscale: 1 } });
    expect(created.status, JSON.stringify(created.body)).toBe(202);
    const ended = await untilEnded(String(created.body.id), 240_000);
    expect(ended.status, JSON.stringify(ended.error)).toBe('SUCCEEDED');
    const out = path.join(dir, 'from-url-restored.mp4');
    await writeFile(out, new Uint8Array(await (await fetch(ended.output!.url)).arrayBuffer()));
    expect((await probeVideo(out)).video.frameCount).toBe((await probeVideo(file)).video.frameCount);
    expect(await workObjects(ended.id)).toEqual([]);
    const loopback = await call('POST', '/videos', { source: { url: 'http://127.0.0.1:9/video.mp4' } });
    expect(loopback).toMatchObject({ status: 400, body: { code: 'FORBIDDEN_URL' } });
  }, 300_000);

  it('refuses at the API what the first bytes or the size say: a photo named .mp4, a video over REVIVE_VIDEO_MAX_BYTES', async () => {
    const jpeg = (await photo(64)).bytes;
    const asPhoto = await call('POST', '/videos', { source: { uploadKey: await putUpload(jpeg) } });
    expect(asPhoto).toMatchObject({ status: 422, body: { code: 'INVALID_VIDEO' } });
    const small = await readFile(await makeTestVideo(dir, 'padded.mp4', { seconds: 1, width: 160 }));
    const padded = new Uint8Array(3 * 1024 * 1024 + 1);
    padded.set(small);
    const tooBig = await call('POST', '/videos', { source: { uploadKey: await putUpload(padded) } });
    expect(tooBig).toMatchObject({ status: 422, body: { code: 'VIDEO_TOO_LARGE' } });
  });

  it.each([
    ['a truncated MP4', 'VIDEO_UNREADABLE', async () => (await readFile(await makeTestVideo(dir, 'cut.mp4', { seconds: 1, width: 160 }))).subarray(0, 2_000)],
    ['a file with audio and no video stream', 'VIDEO_NO_VIDEO_STREAM', async () => {
      const file = await makeTestVideo(dir, 'for-audio.mp4', { seconds: 1, width: 160 });
      const { execFile } = await import('node:child_process');
      const audioOnly = path.join(dir, 'audio-only.mp4');
      await new Promise<void>((resolve, reject) => execFile('ffmpeg', ['-v', 'error', '-y', '-i', file, '-map', '0:a', '-c', 'copy', audioOnly], (e) => (e ? reject(e) : resolve())));
      return await readFile(audioOnly);
    }],
    ['a video over REVIVE_VIDEO_MAX_DURATION_SECONDS', 'VIDEO_TOO_LONG', async () => await readFile(await makeTestVideo(dir, 'long.mp4', { seconds: 6, fps: 5, width: 160, audio: false }))],
    ['a video over REVIVE_VIDEO_MAX_PIXELS_PER_FRAME', 'VIDEO_TOO_LARGE', async () => await readFile(await makeTestVideo(dir, 'wide.mp4', { seconds: 1, fps: 5, width: 640, audio: false }))],
  ])('fails %s with %s before any segment runs', async (_name, code, bytes) => {
    const created = await call('POST', '/videos', { source: { uploadKey: await putUpload(await bytes()) } });
    expect(created.status, JSON.stringify(created.body)).toBe(202);
    const id = String(created.body.id);
    const ended = await untilEnded(id, 120_000);
    expect(ended).toMatchObject({ status: 'FAILED', error: { code } });
    expect(await segmentsOf(id)).toEqual([]);
  }, 150_000);

  it('cancels a video mid-way: segments not started are skipped, the video stays CANCELED with no output', async () => {
    const file = await makeTestVideo(dir, 'to-cancel.mp4', { seconds: 4, fps: 25, width: 240 });
    const created = await call('POST', '/videos', { source: { uploadKey: await putUpload(await readFile(file)) }, options: { upscale: 1 } });
    const id = String(created.body.id);
    // Once it is planned and a segment runs.
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline) {
      const children = await segmentsOf(id);
      if (children.some((c) => c.status === 'RUNNING' || c.status === 'SUCCEEDED')) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const canceled = await call('DELETE', `/jobs/${id}`);
    expect(canceled.status).toBe(200);
    let children: JobResponse[] = [];
    while (Date.now() < deadline) {
      children = await segmentsOf(id);
      if (children.every((c) => !['QUEUED', 'RUNNING'].includes(c.status))) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const statuses = children.map((c) => c.status);
    expect(statuses.length).toBe(5);
    expect(statuses.filter((s) => s === 'CANCELED').length, statuses.join(',')).toBeGreaterThan(0);
    const after = jobResponseSchema.parse((await call('GET', `/jobs/${id}`)).body);
    expect(after).toMatchObject({ status: 'CANCELED', output: null });
    // The segments that ran before the cancel are deleted as they end, the probe with the last one: no part is left.
    while ((await workObjects(id)).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
    expect(await workObjects(id)).toEqual([]);
  }, 180_000);

  it('finishes a video exactly once when its worker is killed with -9 mid-segment', async () => {
    const file = await makeTestVideo(dir, 'killed.mp4', { seconds: 2, fps: 25, width: 240 });
    const input = await probeVideo(file);
    const created = await call('POST', '/videos', { source: { uploadKey: await putUpload(await readFile(file)) }, options: { upscale: 1 }, webhookUrl: `${hookBase}/hook` });
    const id = String(created.body.id);
    // Once a segment runs (its record says RUNNING: claimed by the worker, which is restoring it).
    const deadline = Date.now() + 120_000;
    while (!(await segmentsOf(id)).some((c) => c.status === 'RUNNING') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const victim = stack.worker!.child!;
    // Its own process group (the supervisor starts it detached): the worker and its ffmpeg children die together.
    process.kill(-victim.pid!, 'SIGKILL');
    const ended = await untilEnded(id, 240_000);
    expect(ended.status, `${JSON.stringify(ended.error)}\n${workerLog.slice(-30).join('\n')}`).toBe('SUCCEEDED');
    expect(stack.worker!.restarts).toBeGreaterThanOrEqual(1);
    const out = path.join(dir, 'killed-restored.mp4');
    await writeFile(out, new Uint8Array(await (await fetch(ended.output!.url)).arrayBuffer()));
    expect((await probeVideo(out)).video.frameCount).toBe(input.video.frameCount);
    const children = await segmentsOf(id);
    expect(children.every((c) => c.status === 'SUCCEEDED')).toBe(true);
    expect(Math.max(...children.map((c) => c.metrics.attempts))).toBeGreaterThanOrEqual(2);
    expect(ended.progress).toMatchObject({ done: 3, frames_done: input.video.frameCount });
    const hookDeadline = Date.now() + 20_000;
    while (!hooks.some((h) => h.includes(id)) && Date.now() < hookDeadline) await new Promise((r) => setTimeout(r, 100));
    expect(hooks.filter((h) => h.includes(`"id":"${id}"`))).toHaveLength(1);
    expect(await workObjects(id)).toEqual([]);
  }, 300_000);
});
