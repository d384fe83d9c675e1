#!/usr/bin/env python3
"""EffiSegNet in plain PyTorch (no MONAI, no timm), and a timing harness for it.

The network follows the reference line by line:
  * encoder: MONAI ``EfficientNetBNFeatures`` (monai/networks/nets/efficientnet.py): B0..B7
    width/depth coefficients, channels rounded to multiples of 8, TF "SAME" padding as a
    static ``ConstantPad2d`` computed once from the image size (MONAI computes it from the
    variant's native resolution; here from ``image_size``, which defaults to it), MBConv blocks
    with squeeze-excite, BatchNorm eps 1e-3 / momentum 0.01, swish (``F.silu``, in place inside
    the blocks as MONAI's "memswish"), drop-connect 0.2 * i / n. Module names and nesting are
    MONAI's (``_blocks.{stage}.{i}``), and so is the weight initialisation. The classifier head's
    ``_conv_head`` and ``_bn1`` are kept but never called, as in the reference (it deletes only
    ``_fc``, ``_avg_pooling`` and ``_dropout``).
  * decoder: ivezakis/effisegnet ``models/effisegnet.py`` (``EffiSegNetBN``, ``GhostModule``),
    without deep supervision: per scale 3x3 conv (no bias) -> ReLU -> BN, nearest upsampling to
    the image size, sum, ``bn6``, two Ghost modules, ``conv6`` 1x1 to one map (no bias).

Run ``--check`` to assert the parameter counts against effiseg's (docs/model.md). Timing:
    python3 bench/effisegnet_torch.py --configs b0:224:8,b4:380:8 --modes train,infer \
        --precisions fp32,bf16
prints one JSON object per configuration on stdout (progress goes to stderr).
"""
from __future__ import annotations

import argparse
import contextlib
import gc
import json
import math
import operator
import platform
import statistics
import sys
import time
from functools import reduce
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

# ---------------------------------------------------------------------------------------------
# The network
# ---------------------------------------------------------------------------------------------

# variant: (width coefficient, depth coefficient, native resolution), MONAI efficientnet_params
VARIANTS = {
    "b0": (1.0, 1.0, 224),
    "b1": (1.0, 1.1, 240),
    "b2": (1.1, 1.2, 260),
    "b3": (1.2, 1.4, 300),
    "b4": (1.4, 1.8, 380),
    "b5": (1.6, 2.2, 456),
    "b6": (1.8, 2.6, 528),
    "b7": (2.0, 3.1, 600),
}
DROP_CONNECT_RATE = 0.2
SE_RATIO = 0.25
DEPTH_DIVISOR = 8


class Stage(NamedTuple):
    repeats: int
    kernel: int
    stride: int
    expand: int
    in_ch: int
    out_ch: int


# MONAI blocks_args_str: "r1_k3_s11_e1_i32_o16_se0.25", ...
B0_STAGES = (
    Stage(1, 3, 1, 1, 32, 16),
    Stage(2, 3, 2, 6, 16, 24),
    Stage(2, 5, 2, 6, 24, 40),
    Stage(3, 3, 2, 6, 40, 80),
    Stage(3, 5, 1, 6, 80, 112),
    Stage(4, 5, 2, 6, 112, 192),
    Stage(1, 3, 1, 6, 192, 320),
)


def round_filters(filters: int, width: float) -> int:
    """MONAI _round_filters: scale, round to a multiple of 8, never more than 10 % down."""
    scaled = filters * width
    rounded = max(DEPTH_DIVISOR, int(scaled + DEPTH_DIVISOR / 2) // DEPTH_DIVISOR * DEPTH_DIVISOR)
    if rounded < 0.9 * scaled:
        rounded += DEPTH_DIVISOR
    return int(rounded)


def round_repeats(repeats: int, depth: float) -> int:
    return int(math.ceil(depth * repeats))


def same_padder(size: int, kernel: int, stride: int) -> nn.Module:
    """TF SAME padding for a square input of ``size`` (MONAI _make_same_padder): the odd extra
    goes to the bottom/right."""
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    lo, hi = total // 2, total - total // 2
    return nn.ConstantPad2d((lo, hi, lo, hi), 0.0) if total > 0 else nn.Identity()


def encoder_bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=1e-3, momentum=0.01)


def drop_connect(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """MONAI drop_connect: drops whole samples of the residual branch with probability p."""
    if not training:
        return x
    keep = 1.0 - p
    mask = torch.floor(torch.rand([x.shape[0], 1, 1, 1], dtype=x.dtype, device=x.device) + keep)
    return x / keep * mask


class MBConvBlock(nn.Module):
    """MONAI MBConvBlock (2-D, SE ratio 0.25 of the block input, id_skip on)."""

    def __init__(self, in_ch, out_ch, kernel, stride, image_size, expand, drop_connect_rate):
        super().__init__()
        self.in_channels, self.out_channels = in_ch, out_ch
        self.stride, self.expand_ratio = stride, expand
        self.drop_connect_rate = drop_connect_rate
        mid = in_ch * expand
        if expand != 1:
            # a 1x1 stride-1 conv needs no padding: MONAI's padder is an Identity there
            self._expand_conv = nn.Conv2d(in_ch, mid, 1, bias=False)
            self._bn0 = encoder_bn(mid)
        self._depthwise_conv = nn.Conv2d(mid, mid, kernel, stride=stride, groups=mid, bias=False)
        self._depthwise_conv_padding = same_padder(image_size, kernel, stride)
        self._bn1 = encoder_bn(mid)
        squeezed = max(1, int(in_ch * SE_RATIO))
        self._se_adaptpool = nn.AdaptiveAvgPool2d(1)
        self._se_reduce = nn.Conv2d(mid, squeezed, 1)
        self._se_expand = nn.Conv2d(squeezed, mid, 1)
        self._project_conv = nn.Conv2d(mid, out_ch, 1, bias=False)
        self._bn2 = encoder_bn(out_ch)
        self._swish = nn.SiLU(inplace=True)  # MONAI Act["memswish"](inplace=True) = F.silu

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        x = inputs
        if self.expand_ratio != 1:
            x = self._swish(self._bn0(self._expand_conv(x)))
        x = self._depthwise_conv(self._depthwise_conv_padding(x))
        x = self._swish(self._bn1(x))
        s = self._se_adaptpool(x)
        s = self._se_expand(self._swish(self._se_reduce(s)))
        x = torch.sigmoid(s) * x
        x = self._bn2(self._project_conv(x))
        if self.stride == 1 and self.in_channels == self.out_channels:
            if self.drop_connect_rate:
                x = drop_connect(x, self.drop_connect_rate, self.training)
            x = x + inputs
        return x


class EfficientNetFeatures(nn.Module):
    """MONAI EfficientNetBNFeatures: the five feature maps at strides 2, 4, 8, 16, 32 (outputs of
    stages 0, 1, 2, 4, 6). ``_conv_head``/``_bn1`` exist (parameters, memory) but are unused."""

    def __init__(self, variant: str, image_size: int | None = None):
        super().__init__()
        width, depth, native = VARIANTS[variant]
        size = image_size or native
        stem_ch = round_filters(32, width)
        self._conv_stem = nn.Conv2d(3, stem_ch, 3, stride=2, bias=False)
        self._conv_stem_padding = same_padder(size, 3, 2)
        self._bn0 = encoder_bn(stem_ch)
        size = math.ceil(size / 2)
        stages = [
            s._replace(
                in_ch=round_filters(s.in_ch, width),
                out_ch=round_filters(s.out_ch, width),
                repeats=round_repeats(s.repeats, depth),
            )
            for s in B0_STAGES
        ]
        num_blocks = sum(s.repeats for s in stages)
        # MONAI's extract_stacks: the stages whose stride is 2, plus the end; a feature is taken
        # after stage i when i + 1 is in it.
        self.extract_stacks = [i for i, s in enumerate(stages) if s.stride > 1] + [len(stages)]
        self._blocks = nn.Sequential()
        idx = 0
        for stage_idx, s in enumerate(stages):
            sub = nn.Sequential()
            for r in range(s.repeats):
                in_ch, stride = (s.in_ch, s.stride) if r == 0 else (s.out_ch, 1)
                rate = DROP_CONNECT_RATE * idx / num_blocks
                sub.add_module(
                    str(idx), MBConvBlock(in_ch, s.out_ch, s.kernel, stride, size, s.expand, rate)
                )
                if r == 0:
                    size = math.ceil(size / s.stride)
                idx += 1
            self._blocks.add_module(str(stage_idx), sub)
        head_ch = round_filters(1280, width)
        self._conv_head = nn.Conv2d(stages[-1].out_ch, head_ch, 1, bias=False)
        self._bn1 = encoder_bn(head_ch)
        self._swish = nn.SiLU()  # MONAI Act["memswish"]() (not in place) for the stem
        self.feature_channels = tuple(stages[i - 1].out_ch for i in self.extract_stacks)
        self._initialize_weights()

    def _initialize_weights(self) -> None:
        """MONAI EfficientNet._initialize_weights (TF EfficientNet's init)."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                fan_out = reduce(operator.mul, m.kernel_size, 1) * m.out_channels
                m.weight.data.normal_(0, math.sqrt(2.0 / fan_out))
                if m.bias is not None:
                    m.bias.data.zero_()
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.data.fill_(1.0)
                m.bias.data.zero_()

    def head_parameters(self) -> int:
        return sum(p.numel() for m in (self._conv_head, self._bn1) for p in m.parameters())

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self._swish(self._bn0(self._conv_stem(self._conv_stem_padding(x))))
        features = []
        for i, block in enumerate(self._blocks):
            x = block(x)
            if i + 1 in self.extract_stacks:
                features.append(x)
        return features


class GhostModule(nn.Module):
    """GhostNet module, ratio 2, as the EffiSegNet reference writes it (ReLU before BN)."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.out_channels = out_ch
        init_ch = math.ceil(out_ch / 2)
        self.primary_conv = nn.Sequential(
            nn.Conv2d(in_ch, init_ch, 1, 1, 0, bias=False),
            nn.ReLU(inplace=True),
            nn.BatchNorm2d(init_ch),
        )
        self.cheap_operation = nn.Sequential(
            nn.Conv2d(init_ch, init_ch, 3, 1, 1, groups=init_ch, bias=False),
            nn.ReLU(inplace=True),
            nn.BatchNorm2d(init_ch),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.primary_conv(x)
        x2 = self.cheap_operation(x1)
        return torch.cat([x1, x2], dim=1)[:, : self.out_channels, :, :]


class EffiSegNet(nn.Module):
    """EffiSegNetBN without deep supervision; logits [N, 1, size, size]."""

    def __init__(self, variant: str = "b0", ch: int = 32, image_size: int | None = None):
        super().__init__()
        size = image_size or VARIANTS[variant][2]
        self.encoder = EfficientNetFeatures(variant, size)
        for i, c in enumerate(self.encoder.feature_channels, start=1):
            setattr(self, f"up{i}", nn.Upsample(size=size, mode="nearest"))
            setattr(self, f"conv{i}", nn.Conv2d(c, ch, 3, 1, 1, bias=False))
            setattr(self, f"bn{i}", nn.BatchNorm2d(ch))
        self.relu = nn.ReLU(inplace=True)
        self.bn6 = nn.BatchNorm2d(ch)
        self.ghost1 = GhostModule(ch, ch)
        self.ghost2 = GhostModule(ch, ch)
        self.conv6 = nn.Conv2d(ch, 1, 1, 1, 0, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        total = None
        for i, f in enumerate(self.encoder(x), start=1):
            f = getattr(self, f"bn{i}")(self.relu(getattr(self, f"conv{i}")(f)))
            f = getattr(self, f"up{i}")(f)
            total = f if total is None else total + f
        x = self.ghost2(self.ghost1(self.bn6(total)))
        return self.conv6(x)


def parameter_counts(model: EffiSegNet) -> dict:
    """Trainable parameters as effiseg counts them (BN running statistics excluded)."""
    encoder = sum(p.numel() for p in model.encoder.parameters())
    head = model.encoder.head_parameters()
    decoder = sum(p.numel() for n, p in model.named_parameters() if not n.startswith("encoder."))
    return {"encoder": encoder - head, "unused_head": head, "encoder_with_head": encoder,
            "decoder": decoder}


# effiseg's counts (docs/model.md, ParameterCountTest): encoder without the head, the head,
# decoder with 32 channels.
EXPECTED_COUNTS = {
    "b0": (3_595_388, 412_160, 149_312),
    "b1": (6_101_024, 412_160, 149_312),
    "b2": (7_202_562, 498_432, 163_136),
    "b3": (10_103_336, 592_896, 181_568),
    "b4": (16_742_216, 806_400, 209_216),
    "b5": (27_288_112, 1_052_672, 236_864),
    "b6": (39_403_992, 1_331_712, 266_816),
    "b7": (62_143_440, 1_643_520, 296_768),
}


def dice_bce_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """MONAI DiceCELoss(sigmoid=True) for one channel, weights 1/1: Dice per sample (smooth
    1e-5 numerator and denominator) averaged over the batch, plus BCE-with-logits averaged
    over all pixels. Computed in fp32."""
    logits = logits.float()
    p = torch.sigmoid(logits)
    dims = (1, 2, 3)
    inter = (p * target).sum(dims)
    denom = p.sum(dims) + target.sum(dims)
    dice = 1.0 - (2.0 * inter + 1e-5) / (denom + 1e-5)
    return dice.mean() + F.binary_cross_entropy_with_logits(logits, target)


# ---------------------------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------------------------

def configure_backends() -> dict:
    """The settings every run uses; returned so that each record states them."""
    # cudnn.benchmark: PyTorch's fastest eager setting; it autotunes each new conv shape during
    # the warm-up steps, which are not timed. (The reference's own training run is slower on
    # this count: its Lightning Trainer has deterministic="warn", which turns benchmark off and
    # asks for deterministic algorithms.)
    torch.backends.cudnn.benchmark = True
    # fp32 means IEEE fp32: no TF32 tensor cores for matmuls or convolutions (PyTorch's default
    # lets cuDNN convolutions use TF32). bf16 runs are unaffected: their convs run in bf16.
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    return {
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
        "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
        "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
    }


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.processor() or platform.machine()})"


def _free(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.empty_cache()


def _measure(variant, size, batch, mode, precision, steps, warmup, device):
    """Builds the model and inputs, runs the warm-up and timed steps; returns the per-step times
    in ms and the peak memory (None on CPU)."""
    torch.manual_seed(0)
    bf16 = precision == "bf16"
    fmt = torch.channels_last if bf16 else torch.contiguous_format
    model = EffiSegNet(variant, image_size=size).to(device=device, memory_format=fmt)
    # synthetic inputs, resident on the device for the whole run: no data loading is timed
    x = torch.randn(batch, 3, size, size, device=device).contiguous(memory_format=fmt)
    autocast = (
        (lambda: torch.autocast(device.type, dtype=torch.bfloat16))
        if bf16 else contextlib.nullcontext
    )
    if mode == "train":
        model.train()
        target = (torch.rand(batch, 1, size, size, device=device) > 0.5).float()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=1e-2)

        def step():
            with autocast():
                logits = model(x)
            loss = dice_bce_loss(logits, target)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            # read back, as a training loop that logs it does (and effiseg's bench step does)
            return loss.item()
    else:
        model.eval()

        def step():
            with torch.inference_mode(), autocast():
                model(x)

    cuda = device.type == "cuda"
    for _ in range(warmup):
        step()
    if cuda:
        # the peak is that of the timed steps: weights, gradients, AdamW state, inputs,
        # activations and workspaces, without what cuDNN's autotuning took in the warm-up
        _free(device)
        torch.cuda.reset_peak_memory_stats(device)
    # Each step is timed to completion (synchronised), as effiseg times its steps: no overlap of
    # one step's host work with the previous step's kernels.
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        if cuda:
            torch.cuda.synchronize(device)
        times.append((time.perf_counter() - t0) * 1e3)
    if cuda:
        peak = (torch.cuda.max_memory_allocated(device), torch.cuda.max_memory_reserved(device))
    else:
        peak = (None, None)
    return times, peak


def _quantile(sorted_values, q):
    """Linear-interpolated quantile of an already sorted list."""
    pos = (len(sorted_values) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def bench(variant, size, batch, mode, precision, steps=15, warmup=5, device="cuda",
          settings=None) -> dict:
    """Times one configuration. A failure of the run itself (out of memory above all) does not
    raise: the record then has an "error" field and null timings, and the memory is freed."""
    device = torch.device(device)
    settings = settings if settings is not None else configure_backends()
    record = {
        "impl": "torch",
        "torch_version": torch.__version__,
        "device_name": device_name(device),
        "variant": variant,
        "size": size,
        "batch": batch,
        "mode": mode,
        "precision": precision,
        "steps": steps,
        "warmup": warmup,
        "ms_median": None,
        "ms_p10": None,
        "ms_p90": None,
        "images_per_s": None,
        "peak_allocated_bytes": None,
        "peak_reserved_bytes": None,
        "settings": dict(
            settings,
            memory_format="channels_last" if precision == "bf16" else "contiguous (NCHW)",
            autocast="bfloat16" if precision == "bf16" else None,
        ),
        "notes": (
            "synthetic inputs resident on the device; eager PyTorch; "
            + ("bf16 = torch.autocast(bfloat16) + channels_last (weights fp32); "
               if precision == "bf16" else "fp32 NCHW, TF32 off; ")
            + ("step = forward, DiceCE (sigmoid Dice + BCE-with-logits), backward, "
               "AdamW(lr 1e-4, wd 1e-2), zero_grad(set_to_none); "
               if mode == "train" else "step = eval-mode forward under torch.inference_mode(); ")
            + "each step timed to completion (synchronised"
            + ("; the loss read back)" if mode == "train" else ")")
            + ("; cudnn.benchmark on; peak memory over the timed steps "
               "(torch.cuda.max_memory_allocated/reserved, the cache emptied after the warm-up)"
               if device.type == "cuda" else "; peak memory not measured on the CPU")
        ),
    }
    try:
        times, (alloc, reserved) = _measure(
            variant, size, batch, mode, precision, steps, warmup, device
        )
    except Exception as e:  # out of memory (torch.cuda.OutOfMemoryError) above all
        record["error"] = _describe(e)
    else:
        times.sort()
        median = statistics.median(times)
        record.update(
            ms_median=round(median, 3),
            ms_p10=round(_quantile(times, 0.1), 3),
            ms_p90=round(_quantile(times, 0.9), 3),
            images_per_s=round(batch / (median / 1e3), 2),
            peak_allocated_bytes=alloc,
            peak_reserved_bytes=reserved,
        )
    try:
        _free(device)
    except Exception as e:  # a sticky CUDA error: the device is unusable from here on
        record.setdefault("error", _describe(e))
    return record


def _describe(e: Exception) -> str:
    text = str(e).strip()
    return f"{type(e).__name__}: {text.splitlines()[0]}" if text else type(e).__name__


def parse_configs(text: str) -> list[tuple[str, int, int]]:
    """"b0:224:8,b4:380:16" -> [("b0", 224, 8), ("b4", 380, 16)]; the size may be left out
    ("b4::8" or "b4") for the variant's native resolution, and the batch for 8."""
    out = []
    for item in filter(None, (s.strip() for s in text.split(","))):
        variant, size, batch, *rest = item.lower().split(":") + ["", ""]
        try:
            if variant not in VARIANTS or any(rest):
                raise ValueError
            size = int(size) if size else VARIANTS[variant][2]
            batch = int(batch) if batch else 8
            if size < 1 or batch < 1:
                raise ValueError
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"bad config '{item}' (want VARIANT[:SIZE[:BATCH]], b0..b7)") from None
        out.append((variant, size, batch))
    if not out:
        raise argparse.ArgumentTypeError("no configuration given")
    return out


def split_list(text: str, allowed: tuple[str, ...]) -> list[str]:
    items = [s.strip() for s in text.split(",") if s.strip()]
    bad = [s for s in items if s not in allowed]
    if bad or not items:
        raise argparse.ArgumentTypeError(f"{text!r}: choose from {', '.join(allowed)}")
    return items


def check() -> int:
    """Asserts the parameter counts of B0..B7 against effiseg's and runs a small forward."""
    failures = 0
    for variant, (enc, head, dec) in EXPECTED_COUNTS.items():
        with torch.device("meta"):  # shapes only: no memory, no initialisation cost
            counts = parameter_counts(EffiSegNet(variant))
        ok = (counts["encoder"], counts["unused_head"], counts["decoder"]) == (enc, head, dec)
        failures += not ok
        print(
            f"{variant}: encoder {counts['encoder']:,} + unused head {counts['unused_head']:,}"
            f" = {counts['encoder_with_head']:,}; decoder {counts['decoder']:,}"
            f" -> {'OK' if ok else f'MISMATCH (effiseg: {enc:,} + {head:,}; {dec:,})'}"
        )
    model = EffiSegNet("b0", image_size=64).eval()
    with torch.no_grad():
        x = torch.randn(2, 3, 64, 64)
        shapes = [tuple(f.shape) for f in model.encoder(x)]
        out = tuple(model(x).shape)
    want = [(2, c, 64 // s, 64 // s) for c, s in zip((16, 24, 40, 112, 320), (2, 4, 8, 16, 32))]
    ok = shapes == want and out == (2, 1, 64, 64)
    failures += not ok
    print(f"b0 64x64 features {shapes}, logits {out} -> {'OK' if ok else 'MISMATCH'}")
    print("check passed" if failures == 0 else f"check FAILED ({failures})")
    return 0 if failures == 0 else 1


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true",
                    help="assert the parameter counts against effiseg's and exit")
    ap.add_argument("--variant", default="b0", choices=sorted(VARIANTS))
    ap.add_argument("--size", type=int, help="input size (default: the variant's native one)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--configs", type=parse_configs,
                    help="several VARIANT:SIZE:BATCH, comma-separated "
                         "(overrides --variant/--size/--batch)")
    ap.add_argument("--mode", "--modes", dest="modes", default="train",
                    type=lambda s: split_list(s, ("train", "infer")),
                    help="train, infer or both (comma-separated)")
    ap.add_argument("--precision", "--precisions", dest="precisions", default="fp32",
                    type=lambda s: split_list(s, ("fp32", "bf16")),
                    help="fp32, bf16 or both (comma-separated)")
    ap.add_argument("--steps", type=int, default=15, help="timed steps")
    ap.add_argument("--warmup", type=int, default=5, help="untimed steps first")
    ap.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu")
    args = ap.parse_args(argv)
    if args.check:
        return check()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        ap.error("CUDA is not available (use --device cpu for a functional run)")
    if args.steps < 1 or args.warmup < 0:
        ap.error("--steps must be at least 1 and --warmup at least 0")
    configs = args.configs or [(args.variant, args.size or VARIANTS[args.variant][2], args.batch)]
    settings = configure_backends()
    for variant, size, batch in configs:
        for mode in args.modes:
            for precision in args.precisions:
                print(f"torch {variant} {size} b{batch} {mode} {precision} ...", file=sys.stderr)
                record = bench(variant, size, batch, mode, precision, args.steps, args.warmup,
                               args.device, settings)
                print(json.dumps(record), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
