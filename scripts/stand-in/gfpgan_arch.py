"""GFPGAN v1.4-sized generator (GFPGANv1Clean layout), written from the published architecture description.

Shared by the ONNX generator (gfpgan_standin.py, CPU, no GPU) and the device check (device_check.py, which runs on
a GPU machine with only Python + PyTorch). Its pixels mean nothing; its cost is the real model's: the same layers,
channel counts and resolutions, so parameter count, FLOPs, memory and time per face match GFPGAN v1.4.

Layout (out_size 512, style dim 512, channel multiplier 2, 16 style codes, sft_half):
  U-Net encoder  : 1x1 conv 3->32 at 512, 7 ResBlocks halving the size down to 4x4 (channels 32,64,128,256,256,...)
  style codes    : linear (256*4*4) -> 16*512
  U-Net decoder  : 7 ResBlocks doubling the size back to 512, each followed by two small conv pairs that make the
                   SFT scale and shift for that resolution
  StyleGAN2 dec. : learned 4x4 constant, a modulated 3x3 conv, then per resolution 8..512 an upsampling modulated
                   conv, SFT on half of its channels, a second modulated conv and a ToRGB (1x1 modulated conv)
                   whose output is added to the upsampled RGB skip.

One deliberate difference: the modulated convolutions modulate the input and demodulate the output instead of
building per-sample weights for a grouped convolution. The two are the same function with the same multiply-adds,
but a grouped conv's group count is fixed in ONNX, which would pin the batch to 1; this form keeps the batch
dimension symbolic. Noise injection (a random tensor times a learned scalar) is left out: it is a few element-wise
ops, and a deterministic model is easier to compare across runs.
"""
import math

import torch
import torch.nn.functional as F
from torch import nn

STYLE_DIM = 512
OUT_SIZE = 512
LOG_SIZE = 9  # log2(OUT_SIZE)
NUM_LATENT = LOG_SIZE * 2 - 2  # 16 style codes
CHANNEL_MULTIPLIER = 2

# Published figures of GFPGAN v1.4 as exported to ONNX (CATALOG.md: gfpgan-v1.4.onnx, 324.5 MB of float32 weights).
REFERENCE_ONNX_BYTES = 324.5e6


def decoder_channels():
    """StyleGAN2 decoder channels per resolution (narrow 1, channel multiplier 2)."""
    m = CHANNEL_MULTIPLIER
    return {4: 512, 8: 512, 16: 512, 32: 512, 64: 256 * m, 128: 128 * m, 256: 64 * m, 512: 32 * m}


def unet_channels():
    """The U-Net runs at half the decoder's width, so its SFT maps cover half the decoder channels (sft_half)."""
    return {k: v // 2 for k, v in decoder_channels().items()}


def lrelu(x):
    return F.leaky_relu(x, 0.2)


def resize(x, factor):
    return F.interpolate(x, scale_factor=factor, mode='bilinear', align_corners=False)


class ResBlock(nn.Module):
    """conv3x3 -> resample -> conv3x3, plus a resampled 1x1 skip."""

    def __init__(self, cin, cout, factor):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cin, 3, 1, 1)
        self.conv2 = nn.Conv2d(cin, cout, 3, 1, 1)
        self.skip = nn.Conv2d(cin, cout, 1, bias=False)
        self.factor = factor

    def forward(self, x):
        out = resize(lrelu(self.conv1(x)), self.factor)
        out = lrelu(self.conv2(out))
        return out + self.skip(resize(x, self.factor))


class ModulatedConv(nn.Module):
    """StyleGAN2 modulated conv: per-sample input scaling from the style code, optional demodulation."""

    def __init__(self, cin, cout, kernel, demodulate=True, upsample=False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin, kernel, kernel) / math.sqrt(cin * kernel * kernel))
        self.modulation = nn.Linear(STYLE_DIM, cin)
        nn.init.ones_(self.modulation.bias)
        self.demodulate = demodulate
        self.upsample = upsample
        self.padding = kernel // 2

    def forward(self, x, style):
        s = self.modulation(style)  # [N, cin]
        if self.upsample:
            x = resize(x, 2)
        out = F.conv2d(x * s[:, :, None, None], self.weight, padding=self.padding)
        if self.demodulate:
            # sum over (cin, k, k) of (w * s)^2 == (s^2) @ sum_k(w^2)^T
            wsq = self.weight.pow(2).sum(dim=(2, 3))  # [cout, cin]
            demod = torch.rsqrt(s.pow(2) @ wsq.t() + 1e-8)  # [N, cout]
            out = out * demod[:, :, None, None]
        return out


class StyleConv(nn.Module):
    def __init__(self, cin, cout, upsample=False):
        super().__init__()
        self.conv = ModulatedConv(cin, cout, 3, demodulate=True, upsample=upsample)
        self.bias = nn.Parameter(torch.zeros(1, cout, 1, 1))

    def forward(self, x, style):
        return lrelu(self.conv(x, style) * math.sqrt(2) + self.bias)


class ToRGB(nn.Module):
    def __init__(self, cin):
        super().__init__()
        self.conv = ModulatedConv(cin, 3, 1, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, x, style, skip=None):
        out = self.conv(x, style) + self.bias
        return out if skip is None else out + resize(skip, 2)


class GfpganStandIn(nn.Module):
    """[N,3,512,512] in (x/255-0.5)/0.5 -> [N,3,512,512] clamped to [-1,1]."""

    def __init__(self):
        super().__init__()
        uc, dc = unet_channels(), decoder_channels()
        sizes_down = [2 ** i for i in range(LOG_SIZE, 2, -1)]  # 512 .. 8
        sizes_up = [2 ** i for i in range(3, LOG_SIZE + 1)]  # 8 .. 512
        self.first = nn.Conv2d(3, uc[OUT_SIZE], 1)
        self.down = nn.ModuleList(ResBlock(uc[s], uc[s // 2], 0.5) for s in sizes_down)
        self.final_conv = nn.Conv2d(uc[4], uc[4], 3, 1, 1)
        self.final_linear = nn.Linear(uc[4] * 4 * 4, NUM_LATENT * STYLE_DIM)
        self.up = nn.ModuleList(ResBlock(uc[s // 2], uc[s], 2) for s in sizes_up)

        def sft(c):
            return nn.Sequential(nn.Conv2d(c, c, 3, 1, 1), nn.LeakyReLU(0.2), nn.Conv2d(c, c, 3, 1, 1))

        self.cond_scale = nn.ModuleList(sft(uc[s]) for s in sizes_up)
        self.cond_shift = nn.ModuleList(sft(uc[s]) for s in sizes_up)

        self.const = nn.Parameter(torch.randn(1, dc[4], 4, 4))
        self.conv1 = StyleConv(dc[4], dc[4])
        self.to_rgb1 = ToRGB(dc[4])
        self.convs_up = nn.ModuleList(StyleConv(dc[s // 2], dc[s], upsample=True) for s in sizes_up)
        self.convs = nn.ModuleList(StyleConv(dc[s], dc[s]) for s in sizes_up)
        self.to_rgbs = nn.ModuleList(ToRGB(dc[s]) for s in sizes_up)

    def forward(self, x):
        feat = lrelu(self.first(x))
        skips = []
        for block in self.down:
            feat = block(feat)
            skips.insert(0, feat)
        feat = lrelu(self.final_conv(feat))
        latent = self.final_linear(torch.flatten(feat, 1)).reshape(-1, NUM_LATENT, STYLE_DIM)

        conditions = []
        for i, block in enumerate(self.up):
            feat = block(feat + skips[i])
            conditions.append((self.cond_scale[i](feat), self.cond_shift[i](feat)))

        # The constant follows the batch through arithmetic (not a Python int) so the exported batch stays symbolic.
        out = self.const + torch.zeros_like(latent[:, 0, :1])[:, :, None, None]
        out = self.conv1(out, latent[:, 0])
        skip = self.to_rgb1(out, latent[:, 1])
        for i in range(len(self.convs)):
            out = self.convs_up[i](out, latent[:, 2 * i + 1])
            half = out.shape[1] // 2
            scale, shift = conditions[i]
            out = torch.cat([out[:, :half], out[:, half:] * scale + shift], dim=1)
            out = self.convs[i](out, latent[:, 2 * i + 2])
            skip = self.to_rgbs[i](out, latent[:, 2 * i + 3], skip)
        return torch.clamp(skip, -1.0, 1.0)


def count_parameters(model):
    return sum(p.numel() for p in model.parameters())


def count_macs(model, size=OUT_SIZE):
    """Multiply-adds of every convolution and linear layer for one face, counted with forward hooks."""
    total = [0]

    def conv_hook(module, inputs, output):
        k = module.weight.shape[1] * module.weight.shape[2] * module.weight.shape[3]
        total[0] += output.numel() // output.shape[0] * k

    def linear_hook(module, inputs, output):
        total[0] += output.numel() // output.shape[0] * module.in_features

    handles = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
        elif isinstance(m, ModulatedConv):
            # F.conv2d inside: same count as a Conv2d with this weight, at the output's size.
            handles.append(m.register_forward_hook(conv_hook))
    with torch.no_grad():
        model(torch.zeros(1, 3, size, size))
    for h in handles:
        h.remove()
    return total[0]


def reference_macs():
    """The published architecture's multiply-adds per face, computed from its layer list (no model needed)."""
    uc, dc = unet_channels(), decoder_channels()
    macs = 512 * 512 * 3 * uc[512]  # first 1x1
    for s in [2 ** i for i in range(LOG_SIZE, 2, -1)]:
        cin, cout, h = uc[s], uc[s // 2], s // 2
        macs += s * s * cin * cin * 9 + h * h * cin * cout * 9 + h * h * cin * cout
    macs += 16 * uc[4] * uc[4] * 9 + uc[4] * 16 * NUM_LATENT * STYLE_DIM
    for s in [2 ** i for i in range(3, LOG_SIZE + 1)]:
        cin, cout, h = uc[s // 2], uc[s], s
        macs += (h // 2) ** 2 * cin * cin * 9 + h * h * cin * cout * 9 + h * h * cin * cout  # resblock up
        macs += 4 * h * h * cout * cout * 9  # two SFT branches, two convs each
    macs += 16 * dc[4] * dc[4] * 9 + 16 * dc[4] * 3 + 2 * STYLE_DIM * dc[4]
    for s in [2 ** i for i in range(3, LOG_SIZE + 1)]:
        cin, cout = dc[s // 2], dc[s]
        macs += s * s * cin * cout * 9 + s * s * cout * cout * 9 + s * s * cout * 3
        macs += STYLE_DIM * (cin + cout + cout)  # modulation linears
    return macs
