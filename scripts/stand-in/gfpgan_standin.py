"""Writes a GFPGAN v1.4-sized stand-in restorer as ONNX: `input` [N,3,512,512] (N symbolic) -> `output` in [-1,1].

Usage: python3 gfpgan_standin.py OUT.onnx [--seed N]
Prints the parameter count and multiply-adds of the written file next to the real model's, and fails when either
is more than 10 % off. Run through `pnpm -s stand-in OUT.onnx`, which finds a Python with torch.
"""
import argparse
import json
import os
import sys
import time

import onnx
import torch
from onnx import numpy_helper

import gfpgan_arch as arch

TOLERANCE = 0.10


def graph_macs(model, size=arch.OUT_SIZE):
    """Multiply-adds of the Conv, Gemm and MatMul nodes for one face, read from the written file.

    ONNX shape inference stops at Resize nodes whose scales are computed, so this walks the graph itself, tracking
    each tensor's spatial size: a Resize multiplies it by its constant scales, a Conv applies its kernel and pads,
    and any other node keeps the largest size among its inputs (element-wise ops, slices, concat).
    """
    graph = model.graph
    consts = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    for node in graph.node:
        if node.op_type == 'Constant':
            for a in node.attribute:
                if a.name == 'value':
                    consts[node.output[0]] = numpy_helper.to_array(a.t)
    hw = {graph.input[0].name: (size, size)}
    macs = 0
    for node in graph.node:
        known = [hw[i] for i in node.input if i in hw]
        if node.op_type == 'Resize' and known:
            scales = consts[node.input[2]]
            out = (int(known[0][0] * scales[2]), int(known[0][1] * scales[3]))
        elif node.op_type == 'Conv' and known:
            w = consts[node.input[1]]
            attrs = {a.name: list(a.ints) for a in node.attribute}
            pads = attrs.get('pads', [0, 0, 0, 0])
            out = (known[0][0] + pads[0] + pads[2] - w.shape[2] + 1, known[0][1] + pads[1] + pads[3] - w.shape[3] + 1)
            macs += out[0] * out[1] * w.shape[0] * w.shape[1] * w.shape[2] * w.shape[3]
        else:
            if node.op_type in ('Gemm', 'MatMul') and node.input[1] in consts:
                macs += consts[node.input[1]].size  # one row per face: in x out
            out = max(known, key=lambda s: s[0] * s[1]) if known else None
        if out:
            for o in node.output:
                hw[o] = out
    return macs


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('out')
    parser.add_argument('--seed', type=int, default=24)
    args = parser.parse_args()

    started = time.time()
    torch.manual_seed(args.seed)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    model = arch.GfpganStandIn().eval()

    out_dir = os.path.dirname(os.path.abspath(args.out))
    os.makedirs(out_dir, exist_ok=True)
    tmp = f'{args.out}.{os.getpid()}.tmp'
    try:
        with torch.no_grad():
            torch.onnx.export(
                model,
                torch.zeros(1, 3, arch.OUT_SIZE, arch.OUT_SIZE),
                tmp,
                input_names=['input'],
                output_names=['output'],
                dynamic_axes={'input': {0: 'N'}, 'output': {0: 'N'}},
                opset_version=17,
                do_constant_folding=True,
            )
        written = onnx.load(tmp)
        params = sum(numpy_helper.to_array(i).size for i in written.graph.initializer)
        macs = graph_macs(written)
        os.replace(tmp, args.out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)

    ref_params = arch.REFERENCE_ONNX_BYTES / 4
    ref_macs = arch.reference_macs()
    report = {
        'file': args.out,
        'bytes': os.path.getsize(args.out),
        'parameters': params,
        'referenceParameters': round(ref_params),
        'macs': macs,
        'referenceMacs': ref_macs,
        'seconds': round(time.time() - started, 1),
    }
    print(f'stand-in: {args.out} ({report["bytes"] / 1e6:.1f} MB) in {report["seconds"]} s', file=sys.stderr)
    print(f'  parameters {params / 1e6:.2f} M  (GFPGAN v1.4 ONNX: {ref_params / 1e6:.2f} M = 324.5 MB / 4 bytes)  ratio {params / ref_params:.3f}', file=sys.stderr)
    print(f'  multiply-adds per face {macs / 1e9:.1f} G = {2 * macs / 1e9:.0f} GFLOPs  (published layer list: {ref_macs / 1e9:.1f} G)  ratio {macs / ref_macs:.3f}', file=sys.stderr)
    print(json.dumps(report))
    if abs(params / ref_params - 1) > TOLERANCE or abs(macs / ref_macs - 1) > TOLERANCE:
        print('stand-in: parameter count or multiply-adds more than 10 % away from GFPGAN v1.4', file=sys.stderr)
        sys.exit(1)


if __name__ == '__main__':
    main()
