// Review: a URL source is copied to S3 as bytes and ffprobe/ffmpeg then read that copy through a presigned URL with no
// format or protocol whitelist. If the copy is a DASH manifest, ffprobe itself fetches the URLs it names: an address
// the worker's SafeHttpClient would refuse (loopback here; 169.254.169.254 or a VPC host in AWS).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { probeVideo } from '../src/video/index.js';

let inner: Server;
let outer: Server;
const innerHits: string[] = [];

beforeAll(async () => {
  inner = createServer((req, res) => {
    innerHits.push(req.url ?? '');
    res.end('internal');
  });
  await new Promise<void>((r) => inner.listen(0, '127.0.0.1', r));
  const innerPort = (inner.address() as AddressInfo).port;
  const mpd = `<?xml version="1.0"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" profiles="urn:mpeg:dash:profile:isoff-on-demand:2011" type="static" mediaPresentationDuration="PT10S" minBufferTime="PT1S">
<Period><AdaptationSet mimeType="video/mp4"><Representation id="1" bandwidth="1000" width="64" height="64" codecs="avc1.42c00a">
<BaseURL>http://127.0.0.1:${innerPort}/latest/meta-data/</BaseURL></Representation></AdaptationSet></Period></MPD>`;
  // Stands in for S3 serving the planner's copy: `.../source?X-Amz-...`, application/octet-stream, as putResultFile stores it.
  outer = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': Buffer.byteLength(mpd) });
    res.end(mpd);
  });
  await new Promise<void>((r) => outer.listen(0, '127.0.0.1', r));
});

afterAll(async () => {
  inner?.closeAllConnections();
  outer?.closeAllConnections();
  await Promise.all([inner, outer].map((s) => new Promise((r) => s?.close(r))));
});

it("ffprobe never fetches an address named inside the video's bytes", async () => {
  const { port } = outer.address() as AddressInfo;
  const signal = AbortSignal.timeout(5_000);
  await probeVideo(`http://127.0.0.1:${port}/segments/t/v/source?X-Amz-Signature=x`, { limits: { maxDurationSeconds: 600, maxPixelsPerFrame: 3840 * 2160 }, signal }).catch(() => undefined);
  expect(innerHits).toEqual([]);
}, 20_000);
