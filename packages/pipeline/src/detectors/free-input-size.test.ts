import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FaceDetector } from '../detect.js';
import { sharedDir } from '../testing/shared-dir.js';
import { freeInputSizeCopy } from './free-input-size.js';

const detectorFile = (name: string) => path.join(sharedDir(), 'models', 'detectors', name);

describe('freeInputSizeCopy', () => {
  const tmpdir = process.env.TMPDIR;
  afterEach(() => {
    if (tmpdir === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = tmpdir;
  });

  it('writes a copy of the fixed YuNet export that onnxruntime loads with a free height and width, removed after', async () => {
    const copy = await freeInputSizeCopy(detectorFile('yunet_s_640_640.onnx'));
    expect(copy).toBeDefined();
    const detector = await FaceDetector.create(copy!.path, { threads: 1, ownScale: false });
    expect(detector.dynamicInput).toBe(true);
    await detector.dispose();
    await copy!.remove();
    expect(existsSync(copy!.path)).toBe(false);
  });

  it('leaves models alone that are dynamic already or are not YuNet', async () => {
    expect(await freeInputSizeCopy(detectorFile('yunet_s_dynamic.onnx'))).toBeUndefined();
    expect(await freeInputSizeCopy(detectorFile('retinaface_mbnet0.25.onnx'))).toBeUndefined();
    expect(await freeInputSizeCopy(path.join(sharedDir(), 'photos', 'README.md'))).toBeUndefined();
  });

  it('without a writable temporary folder, the detector loads as it is and letterboxes', async () => {
    process.env.TMPDIR = path.join(sharedDir(), 'no-such-folder');
    expect(await freeInputSizeCopy(detectorFile('yunet_s_640_640.onnx'))).toBeUndefined();
    const detector = await FaceDetector.create(detectorFile('yunet_s_640_640.onnx'), { threads: 1 });
    expect(detector.dynamicInput).toBe(false);
    expect([detector.inputWidth, detector.inputHeight]).toEqual([640, 640]);
    await detector.dispose();
  });
});
