// @ts-check
// The demo page's video and album flows: a video is uploaded in parts (the client's restoreVideo), several photos
// become one album (restoreAlbum); the page shows the upload's and the job's progress, then plays the restored video
// or lists the album's photos with their results and a link to the ZIP. Loaded by app.js, which owns the client and
// the words for each error code; typed and linted like it (tsconfig.web.json).

/** @typedef {typeof import('../../../client/src/index.js')} ClientModule */
/** @typedef {import('../../../client/src/index.js').JobResponse} JobResponse */
/** @typedef {InstanceType<ClientModule['Revive']>} Client */

/**
 * What the flows need from the page.
 * @typedef {object} MediaContext
 * @property {ClientModule} lib
 * @property {() => Client} client the current client (the tenant may change)
 * @property {() => number} upscale the page's upscale setting
 * @property {(code: string) => readonly [string, string]} message a person's words for an error code
 */

/** How often the page polls a video or an album; both take minutes, not seconds. */
const POLL_INTERVAL_MS = 1000;

/**
 * @template {Element} T
 * @param {string} id
 * @param {{ new (): T; prototype: T }} type
 * @returns {T}
 */
function byId(id, type) {
  const node = document.getElementById(id);
  if (!(node instanceof type)) throw new Error(`the page has no ${type.name} #${id}`);
  return node;
}
/** @param {string} id */
const $ = (id) => byId(id, HTMLElement);
/** @param {string} id */
const bar = (id) => byId(id, HTMLProgressElement);

/** @param {number} bytes */
function mib(bytes) {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/**
 * "2 of 5 segments · 120 of 300 frames · about 30 s left", from the job's progress.
 * @param {JobResponse} job
 */
function progressText(job) {
  const p = job.progress;
  if (p === null) return '';
  const unit = job.kind === 'video' ? 'segments' : 'photos';
  const parts = [`${p.done} of ${p.total} ${unit}`];
  if (p.failed > 0) parts.push(`${p.failed} failed`);
  if (p.frames_total !== null && p.frames_done !== null) parts.push(`${p.frames_done} of ${p.frames_total} frames`);
  if (p.eta_seconds !== null && job.status === 'RUNNING') parts.push(`about ${Math.ceil(p.eta_seconds)} s left`);
  return parts.join(' · ');
}

/**
 * Wires the media section: the file input, the cancel button, the flows.
 * @param {MediaContext} ctx
 */
export function wireMedia(ctx) {
  const fileInput = byId('media-file', HTMLInputElement);
  /** @type {AbortController | undefined} */
  let abort;
  /** @type {string | undefined} */
  let jobId;

  /** @param {string} status one of UPLOADING, QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELED */
  const setStatus = (status) => {
    const text = { UPLOADING: 'Uploading…', QUEUED: 'Waiting in the queue…', RUNNING: 'Restoring…', SUCCEEDED: 'Done', FAILED: 'Failed', CANCELED: 'Canceled' }[status] ?? status;
    $('media-status').dataset.status = status;
    $('media-status').textContent = text;
    byId('media-cancel', HTMLButtonElement).hidden = !['QUEUED', 'RUNNING'].includes(status);
  };
  /** @param {JobResponse} job */
  const showJob = (job) => {
    jobId = job.id;
    setStatus(job.status);
    const p = job.progress;
    const progress = bar('media-progress');
    progress.max = Math.max(1, p?.frames_total ?? p?.total ?? 1);
    progress.value = p === null ? 0 : (p.frames_done ?? p.done + p.failed);
    $('media-progress-text').textContent = progressText(job);
  };
  /**
   * @param {string} code
   * @param {string} [detail]
   */
  const showError = (code, detail) => {
    const [title, text] = ctx.message(code);
    const box = $('media-error');
    box.hidden = false;
    box.dataset.code = code;
    box.replaceChildren(Object.assign(document.createElement('strong'), { textContent: title }), ` ${text}`);
    if (detail) box.append(Object.assign(document.createElement('span'), { className: 'error-detail', textContent: ` Reported: ${detail}` }));
  };
  /**
   * @param {number} files
   * @param {number} totalBytes
   * @param {string} title
   */
  const reset = (files, totalBytes, title) => {
    abort?.abort();
    abort = new AbortController();
    jobId = undefined;
    $('media-job').hidden = false;
    $('media-title').textContent = title;
    $('media-error').hidden = true;
    $('media-result').hidden = true;
    byId('media-video', HTMLVideoElement).hidden = true;
    $('media-album').replaceChildren();
    bar('media-upload').max = Math.max(1, totalBytes);
    bar('media-upload').value = 0;
    $('media-upload-text').textContent = `0 of ${mib(totalBytes)}${files > 1 ? ` (${files} photos)` : ''}`;
    bar('media-progress').value = 0;
    $('media-progress-text').textContent = '';
    setStatus('UPLOADING');
    return abort.signal;
  };
  /** @param {import('../../../client/src/index.js').UploadProgress} p */
  const onUploadProgress = (p) => {
    bar('media-upload').value = p.loadedBytes;
    $('media-upload-text').textContent = `${mib(p.loadedBytes)} of ${mib(p.totalBytes)}`;
    $('media-upload').dataset.done = String(p.loadedBytes === p.totalBytes);
  };
  /** @param {unknown} error */
  const fail = (error) => {
    if (!(error instanceof ctx.lib.ReviveError)) return showError('HTTP_ERROR', String(error));
    if (error.code === 'ABORTED') return;
    if (error.job) showJob(error.job);
    else setStatus('FAILED');
    showError(error.code === 'JOB_FAILED' ? (error.job?.error?.code ?? 'INTERNAL') : error.code, error.detail);
  };
  /**
   * @param {JobResponse} job a video or album that ended with an output
   * @param {string} label
   */
  const showDownload = (job, label) => {
    if (job.output === null) return;
    const link = byId('media-download', HTMLAnchorElement);
    link.href = job.output.url;
    link.textContent = label;
    $('media-result').hidden = false;
  };

  /** @param {File} file */
  async function runVideo(file) {
    const signal = reset(1, file.size, `Your video: ${file.name}`);
    try {
      const job = await ctx.client().restoreVideo(file, {
        signal,
        options: { upscale: ctx.upscale() },
        intervalMs: POLL_INTERVAL_MS,
        maxIntervalMs: POLL_INTERVAL_MS,
        onUploadProgress,
        onUploaded: () => setStatus('QUEUED'),
        onProgress: showJob,
      });
      showJob(job);
      const video = byId('media-video', HTMLVideoElement);
      video.src = job.output.url;
      video.hidden = false;
      showDownload(job, 'Download the video');
    } catch (error) {
      fail(error);
    }
  }

  /** @param {File[]} files */
  async function runAlbum(files) {
    const signal = reset(files.length, files.reduce((sum, f) => sum + f.size, 0), `Your album: ${files.length} photos`);
    /** @type {JobResponse | undefined} */
    let album;
    try {
      album = await ctx.client().restoreAlbum(files, {
        signal,
        options: { upscale: ctx.upscale() },
        intervalMs: POLL_INTERVAL_MS,
        maxIntervalMs: POLL_INTERVAL_MS,
        onUploadProgress,
        onProgress: showJob,
      });
      showJob(album);
    } catch (error) {
      fail(error);
      // A partly failed album still has the ZIP of the photos that succeeded, and its children to show.
      if (error instanceof ctx.lib.ReviveError && error.job?.kind === 'album') album = error.job;
    }
    if (album === undefined || signal.aborted) return;
    showDownload(album, 'Download all (ZIP)');
    const list = $('media-album');
    for await (const child of ctx.client().jobs.children(album.id, { signal })) {
      const item = document.createElement('li');
      item.dataset.status = child.status;
      if (child.output !== null) {
        item.append(Object.assign(document.createElement('img'), { src: child.output.url, alt: `Restored photo ${list.children.length + 1}`, loading: 'lazy' }));
      } else {
        const [title] = ctx.message(child.error?.code ?? child.status);
        item.append(Object.assign(document.createElement('p'), { className: 'album-error', textContent: title }));
      }
      list.append(item);
    }
    $('media-result').hidden = false;
  }

  fileInput.addEventListener('change', () => {
    const files = [...(fileInput.files ?? [])];
    fileInput.value = '';
    if (files.length === 0) return;
    const videoTypes = /** @type {readonly string[]} */ (ctx.lib.VIDEO_CONTENT_TYPES);
    const imageTypes = /** @type {readonly string[]} */ (ctx.lib.UPLOAD_CONTENT_TYPES);
    if (files.length === 1 && videoTypes.includes(files[0]?.type ?? '')) return void runVideo(/** @type {File} */ (files[0]));
    if (files.every((f) => imageTypes.includes(f.type))) return void runAlbum(files);
    reset(0, 0, 'Nothing was sent');
    setStatus('FAILED');
    showError('NOT_VIDEO_OR_PHOTOS');
  });
  byId('media-cancel', HTMLButtonElement).addEventListener('click', () => {
    if (jobId !== undefined) ctx.client().jobs.cancel(jobId).then(showJob, fail);
  });
}
