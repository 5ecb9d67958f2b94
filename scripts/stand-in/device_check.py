"""Device check: the GFPGAN v1.4-sized stand-in (gfpgan_arch.py) in PyTorch on a GPU, fp32 and fp16, at several batch
sizes: faces per second and peak device memory; then the vCPUs per GPU that keep it fed, from the CPU-side cost of a
face (decode, detect, align, paste, encode: everything but the restorer, in ms per face on one core).

For a lent GPU machine with Python, PyTorch and CUDA but no Node and no network: run scripts/device-check.sh.
It runs on CPU too (--device cpu, small iteration counts), to check the script itself where no GPU is lent; CPU
figures there mean nothing for the GPU sizing.

Usage: python3 device_check.py [--device cuda|cpu] [--batches 1,4,8,16] [--iterations N] [--warmup N]
                               [--cpu-ms-per-face MS] [--json FILE]
"""
import argparse
import json
import math
import os
import resource
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gfpgan_arch as arch  # noqa: E402

# CPU ms per face outside the restorer's model run, per output format: the largest of `pnpm bench`'s cpu-side figures
# over shared/photos/whole and the small photos at 1 and 2 threads (docs/benchmarks.md "The CPU-side cost per face",
# 2026-12-06). A GPU task's vCPUs do this work. --cpu-ms-per-face replaces them with one figure of your own.
CPU_MS_PER_FACE_BY_FORMAT = {'jpg': 54.0, 'webp': 101.0, 'png': 136.0}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu', choices=['cuda', 'cpu'])
    parser.add_argument('--batches', default=None, help='comma-separated batch sizes (default 1,4,8,16 on cuda, 1,2 on cpu)')
    parser.add_argument('--dtypes', default=None, help='fp32,fp16 (default both on cuda; fp32 on cpu, where fp16 convolutions are not implemented)')
    parser.add_argument('--iterations', type=int, default=None, help='timed runs per setting (default 20 on cuda, 1 on cpu)')
    parser.add_argument('--warmup', type=int, default=None, help='untimed runs first (default 3 on cuda, 0 on cpu)')
    parser.add_argument('--cpu-ms-per-face', type=float, default=None,
                        help='CPU-side ms per face on one core, outside the restorer (default: the measured figure of each output format)')
    parser.add_argument('--json', default=None, help='also write the results here')
    return parser.parse_args()


def peak_host_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(model, device, dtype, batch, iterations, warmup):
    x = torch.rand(batch, 3, arch.OUT_SIZE, arch.OUT_SIZE, device=device, dtype=dtype) * 2 - 1
    cuda = device.type == 'cuda'
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    with torch.inference_mode():
        for _ in range(warmup):
            model(x)
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(iterations):
            out = model(x)
        if cuda:
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
    if not torch.isfinite(out.float()).all():
        raise RuntimeError(f'non-finite output at batch {batch} {dtype}')
    result = {
        'dtype': 'fp16' if dtype == torch.float16 else 'fp32',
        'batch': batch,
        'msPerBatch': 1000 * seconds / iterations,
        'facesPerSecond': batch * iterations / seconds,
    }
    if cuda:
        result['peakAllocatedMiB'] = torch.cuda.max_memory_allocated() / 2**20
        result['peakReservedMiB'] = torch.cuda.max_memory_reserved() / 2**20
    else:
        result['peakHostRssMiB'] = peak_host_mib()
    return result


def main():
    args = parse_args()
    device = torch.device(args.device)
    on_gpu = device.type == 'cuda'
    if on_gpu and not torch.cuda.is_available():
        sys.exit('device-check: --device cuda but torch.cuda.is_available() is False (no GPU, or a CPU-only PyTorch build)')
    batches = [int(b) for b in (args.batches or ('1,4,8,16' if on_gpu else '1,2')).split(',')]
    dtypes = (args.dtypes or ('fp32,fp16' if on_gpu else 'fp32')).split(',')
    iterations = args.iterations if args.iterations is not None else (20 if on_gpu else 1)
    warmup = args.warmup if args.warmup is not None else (3 if on_gpu else 0)
    if on_gpu:
        torch.backends.cudnn.benchmark = True
        name = torch.cuda.get_device_name(device)
    else:
        name = f'CPU ({os.cpu_count()} logical cores, {torch.get_num_threads()} torch threads)'
    torch.manual_seed(24)
    base = arch.GfpganStandIn().eval()
    params = arch.count_parameters(base)
    print(f'device check: {name}; torch {torch.__version__}; stand-in {params / 1e6:.1f} M parameters, '
          f'{arch.reference_macs() / 1e9:.1f} G multiply-adds per face; {iterations} timed runs after {warmup} warm-up')
    cpu_ms = {'given': args.cpu_ms_per_face} if args.cpu_ms_per_face is not None else CPU_MS_PER_FACE_BY_FORMAT
    print('CPU side (everything but the restorer), ms per face on one core: ' + ', '.join(f'{k} {v:g}' for k, v in cpu_ms.items()))
    print('dtype | batch | ms/batch | faces/s | peak memory MiB | vCPUs to feed it (' + ', '.join(cpu_ms) + ')')
    results = []
    for dtype_name in dtypes:
        dtype = torch.float16 if dtype_name == 'fp16' else torch.float32
        model = arch.GfpganStandIn().eval()
        model.load_state_dict(base.state_dict())
        model = model.to(device=device, dtype=dtype)
        for batch in batches:
            try:
                r = measure(model, device, dtype, batch, iterations, warmup)
            except RuntimeError as error:  # out of memory, or an op without a kernel for this dtype
                print(f'{dtype_name} | {batch} | failed: {str(error).splitlines()[0]}')
                if on_gpu:
                    torch.cuda.empty_cache()
                continue
            r['vcpusToFeed'] = {k: math.ceil(r['facesPerSecond'] * v / 1000) for k, v in cpu_ms.items()}
            memory = r.get('peakAllocatedMiB', r.get('peakHostRssMiB'))
            feed = ', '.join(str(n) for n in r['vcpusToFeed'].values())
            print(f"{r['dtype']} | {batch} | {r['msPerBatch']:.1f} | {r['facesPerSecond']:.2f} | {memory:.0f} | {feed}")
            results.append(r)
        del model
        if on_gpu:
            torch.cuda.empty_cache()
    if results:
        best = max(results, key=lambda r: r['facesPerSecond'])
        print(f"best: {best['dtype']} batch {best['batch']}, {best['facesPerSecond']:.1f} faces/s; vCPUs per GPU to keep it busy: "
              + ', '.join(f"{n} with {k} ({best['facesPerSecond'] * cpu_ms[k] / 1000:.1f} cores of CPU-side work at {cpu_ms[k]:g} ms per face)"
                          for k, n in best['vcpusToFeed'].items()))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump({'device': name, 'torch': torch.__version__, 'parameters': params, 'cpuMsPerFace': cpu_ms, 'results': results}, f, indent=2)
    if not results:
        sys.exit('device-check: no setting ran')


if __name__ == '__main__':
    main()
