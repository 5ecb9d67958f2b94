"""OpenCV's imencode timed on one image, for encode.bench.ts to print beside sharp's settings.

Usage: python3 encode_opencv.py <image> <runs>
Prints one line per setting: its label, the median time in milliseconds, and the encoded size in bytes.
"""
import statistics
import sys
import time

import cv2

SETTINGS = [
    ('png level 1 (default)', '.png', []),
    ('png level 3', '.png', [cv2.IMWRITE_PNG_COMPRESSION, 3]),
    ('jpeg q95', '.jpg', [cv2.IMWRITE_JPEG_QUALITY, 95]),
    ('webp q95', '.webp', [cv2.IMWRITE_WEBP_QUALITY, 95]),
]


def main() -> None:
    image = cv2.imread(sys.argv[1])
    runs = int(sys.argv[2])
    for label, ext, params in SETTINGS:
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            _ok, buf = cv2.imencode(ext, image, params)
            times.append(time.perf_counter() - start)
        print(label, statistics.median(times) * 1000, len(buf))


if __name__ == '__main__':
    main()
