#!/usr/bin/env python3
"""End-to-end comparison of effiseg with the reference EffiSegNet in PyTorch, in one run on one
device: training-step and inference throughput and peak device memory per configuration, the
ratios, and the paper's whole training protocol projected from the measured step times.

For each configuration (in priority order) and mode, the PyTorch side runs in this process
(bench/effisegnet_torch.py, fp32 and bf16 autocast + channels_last) and effiseg's side in a
child process: the --effiseg-cmd prefix followed by
    bench --variant b0 --size 224 --batch 8 --mode train --precision fp32 --steps N --warmup W
          --device cuda --json
which must print one JSON line with the fields of effisegnet_torch.py's records (the last line
of its stdout that parses as a JSON object is taken). A failed or unsupported effiseg run shows
as n/a. The prefix is split like a shell line (shlex) but not run through a shell: quote a
classpath wildcard as you would type it, e.g. "java -cp 'lib/*' org.effiseg.cli.Main".

Time: a configuration is not started once the time left (--time-budget) is less than 1.25 x
the longest configuration so far took, no run is started past the budget, and effiseg's child
is killed at the budget (given at least 20 s): the prefix must end in the process itself (a
wrapper script must exec it). The report (--out, --json-out) is rewritten after every
configuration, so that a run killed from outside still leaves the finished part.
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import shlex
import statistics
import subprocess
import sys
import time

# the budget counts from here: importing torch (and CUDA's start-up) takes seconds too
START = time.monotonic()
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import effisegnet_torch as et  # noqa: E402  (after the path set-up above)

DEFAULT_CONFIGS = "b0:224:8,b4:380:8,b0:224:32,b4:380:16"
# The paper's protocol (EffiSegNet-B4 at 380x380): 300 epochs, 800 training and 100 validation
# images each; the follow-up study's setup took about 10 hours for it.
EPOCHS, TRAIN_IMAGES, VAL_IMAGES = 300, 800, 100
STUDY_MINUTES = 600
TARGET_MINUTES = 15
SAFETY = 1.25  # a configuration starts only if the time left is >= SAFETY x the longest so far
MIN_CHILD_TIMEOUT_S = 20
IDENTITY = ("variant", "size", "batch", "mode", "precision")
# the allocator settings of the project's CPU benchmarks (docs/benchmarks.md), for both sides
BENCH_TUNABLES = "glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=17179869184"


def last_json_object(text: str):
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict):
                return obj
    return None


def tail(text: str, lines: int = 5) -> str:
    return " | ".join(text.strip().splitlines()[-lines:])


def run_effiseg(prefix, variant, size, batch, mode, precision, steps, warmup, device, timeout,
                threads=0):
    cmd = shlex.split(prefix) + [
        "bench", "--variant", variant, "--size", str(size), "--batch", str(batch),
        "--mode", mode, "--precision", precision, "--steps", str(steps),
        "--warmup", str(warmup), "--device", device, "--json",
    ] + (["--threads", str(threads)] if threads > 0 and device == "cpu" else [])
    record = {"impl": "effiseg", "variant": variant, "size": size, "batch": batch, "mode": mode,
              "precision": precision, "command": shlex.join(cmd)}
    t0 = time.monotonic()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        record["error"] = f"killed after {timeout:.0f} s (time budget)"
        return record
    except OSError as e:
        record["error"] = f"could not start: {e}"
        return record
    record["wall_s"] = round(time.monotonic() - t0, 1)
    parsed = last_json_object(proc.stdout)
    if parsed is None:
        record["error"] = f"exit {proc.returncode}, no JSON line; stderr: {tail(proc.stderr)}"
    else:
        # the run is identified by what was asked; a run of something else is no result
        wrong = [f"asked {k} {record[k]}, it reports {parsed[k]}" for k in IDENTITY
                 if k in parsed and str(parsed[k]).lower() != str(record[k]).lower()]
        record = {**parsed, **record}
        if wrong:
            record["error"] = "; ".join(wrong)
        elif proc.returncode != 0 and not record.get("error"):
            record["error"] = f"exit {proc.returncode}; stderr: {tail(proc.stderr)}"
    if record.get("error"):
        print(f"  effiseg: {record['error']}", file=sys.stderr)
    return record


def ok(record) -> bool:
    return bool(record) and not record.get("error") and bool(record.get("images_per_s"))


def find(records, impl, variant, size, batch, mode, precision):
    """The record of one side and configuration; with several rounds, one record of the medians
    over the rounds that have a result (peak memory: the largest), with per_round images/s."""
    found = [r for r in records
             if (r.get("impl"), r.get("variant"), r.get("size"), r.get("batch"), r.get("mode"),
                 r.get("precision")) == (impl, variant, size, batch, mode, precision)]
    if len(found) <= 1:
        return found[0] if found else None
    good = [r for r in found if ok(r)]
    if not good:
        return found[0]
    merged = dict(good[0])
    for key in ("images_per_s", "ms_median"):
        merged[key] = statistics.median(r[key] for r in good)
    for key in ("peak_allocated_bytes", "peak_reserved_bytes"):
        values = [r[key] for r in good if r.get(key) is not None]
        merged[key] = max(values) if values else None
    merged["per_round"] = {r.get("round"): r["images_per_s"] for r in good}
    return merged


def fmt_ips(r) -> str:
    return f"{r['images_per_s']:,.1f}" if ok(r) else "n/a"


def fmt_ratio(a, b, key="images_per_s") -> str:
    if not (ok(a) and ok(b) and a.get(key) and b.get(key)):
        return "n/a"
    rounds = sorted(set(a.get("per_round", {})) & set(b.get("per_round", {})))
    if key == "images_per_s" and len(rounds) > 1:
        # alternating rounds: the median of each round's ratio, and their range
        per = sorted(a["per_round"][k] / b["per_round"][k] for k in rounds)
        return f"{statistics.median(per):.2f}x ({per[0]:.2f}–{per[-1]:.2f})"
    return f"{a[key] / b[key]:.2f}x"


def fmt_mem(r) -> str:
    if not ok(r) or r.get("peak_allocated_bytes") is None:
        return "n/a"
    text = f"{r['peak_allocated_bytes'] / 2**20:,.0f}"
    if r.get("peak_reserved_bytes") is not None:
        text += f" / {r['peak_reserved_bytes'] / 2**20:,.0f}"
    return text


def label(impl, precision) -> str:
    return f"{impl} {'bf16-CL' if impl == 'torch' and precision == 'bf16' else precision}"


def table(records, configs, modes, torch_precs, eff_precs) -> list[str]:
    sides = [("torch", p) for p in torch_precs] + [("effiseg", p) for p in eff_precs]
    ratios = [(e, t) for e in eff_precs for t in torch_precs]
    head = (["config", "mode"] + [f"{label(*s)} img/s" for s in sides]
            + [f"{label('effiseg', e)} / {label('torch', t)}" for e, t in ratios]
            + [f"{label(*s)} MiB" for s in sides]
            + [f"mem {label('effiseg', e)} / {label('torch', e if e in torch_precs else torch_precs[0])}"
               for e in eff_precs])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for variant, size, batch in configs:
        for mode in modes:
            got = {s: find(records, s[0], variant, size, batch, mode, s[1]) for s in sides}
            if not any(got.values()):
                continue  # skipped for time
            row = [f"{variant.upper()} {size}² b{batch}", mode]
            row += [fmt_ips(got[s]) for s in sides]
            row += [fmt_ratio(got[("effiseg", e)], got[("torch", t)]) for e, t in ratios]
            row += [fmt_mem(got[s]) for s in sides]
            row += [fmt_ratio(got[("effiseg", e)],
                              got[("torch", e if e in torch_precs else torch_precs[0])],
                              "peak_allocated_bytes") for e in eff_precs]
            lines.append("| " + " | ".join(row) + " |")
    return lines


def project(records, impl, precision) -> dict | None:
    """The paper's protocol from the B4 380 step times: batch 8 if measured, and the batch with
    the best training throughput. Each epoch: ceil(800 / b) training steps and ceil(100 / b)
    inference steps at the same batch (validation inference at batch 8 when the batch has no
    inference record)."""
    def minutes(batch):
        train = find(records, impl, "b4", 380, batch, "train", precision)
        infer = find(records, impl, "b4", 380, batch, "infer", precision)
        if not ok(infer):
            infer = find(records, impl, "b4", 380, 8, "infer", precision)
        train_min = EPOCHS * math.ceil(TRAIN_IMAGES / batch) * train["ms_median"] / 60e3
        val_min = (EPOCHS * math.ceil(VAL_IMAGES / infer["batch"]) * infer["ms_median"] / 60e3
                   if ok(infer) else None)
        return {"batch": batch, "train_images_per_s": train["images_per_s"],
                "train_min": round(train_min, 2),
                "val_min": None if val_min is None else round(val_min, 2),
                "total_min": round(train_min + (val_min or 0.0), 2),
                "validation_included": val_min is not None}

    trains = [r for r in records if ok(r) and (r.get("impl"), r.get("variant"), r.get("size"),
                                                 r.get("mode"), r.get("precision"))
              == (impl, "b4", 380, "train", precision)]
    if not trains:
        return None
    best = max(trains, key=lambda r: r["images_per_s"])["batch"]
    has8 = any(r["batch"] == 8 for r in trains)
    return {"impl": impl, "precision": precision,
            "batch8": minutes(8) if has8 else None,
            "best": minutes(best)}


def projection_lines(projections) -> list[str]:
    def describe(p):
        text = f"batch {p['batch']}: **{p['total_min']:.1f} min**"
        if p["validation_included"]:
            text += f" (training {p['train_min']:.1f} + validation {p['val_min']:.1f})"
        else:
            text += " (training only: no B4 380 inference measured)"
        return text

    lines = [
        f"Projection of the paper's protocol (EffiSegNet-B4, 380², {EPOCHS} epochs × "
        f"{TRAIN_IMAGES} training + {VAL_IMAGES} validation images) from the measured step "
        f"times; the follow-up study's setup: ~{STUDY_MINUTES // 60} hours. Compute only: no "
        "data loading, augmentation, metrics, checkpointing or framework overhead.",
        "",
    ]
    if not projections:
        lines.append("- no B4 380 training record: no projection")
    for p in projections:
        parts = [describe(p["batch8"])] if p["batch8"] else []
        if not p["batch8"] or p["best"]["batch"] != 8:
            parts.append("best " + describe(p["best"]))
        lines.append(f"- {label(p['impl'], p['precision'])}: " + "; ".join(parts))
    return lines


def jit_lines(records) -> list[str]:
    """effiseg's JIT compilation time during its timed steps, per configuration and round: the
    compiler threads take the same cores as the step, so a run still compiling is slower than
    the steady state (raise --warmup until these are a few ms)."""
    by_config = {}
    for r in records:
        if r.get("impl") == "effiseg" and ok(r) and r.get("jit_ms_steps") is not None:
            key = (r["variant"], r["size"], r["batch"], r["mode"], r["precision"])
            by_config.setdefault(key, []).append(r)
    if not by_config:
        return []
    lines = ["JIT compilation during effiseg's timed steps (ms per run, in round order; steps "
             "with any in brackets):", ""]
    for (variant, size, batch, mode, precision), runs in by_config.items():
        runs.sort(key=lambda r: r.get("round", 0))
        parts = [f"{sum(r['jit_ms_steps']):.0f} "
                 f"[{sum(1 for v in r['jit_ms_steps'] if v > 0)}/{len(r['jit_ms_steps'])}]"
                 for r in runs]
        lines.append(f"- {variant} {size} b{batch} {mode} {precision}: " + ", ".join(parts))
    return lines + [""]


def report(args, configs, settings, started_at, elapsed, records, skipped, done) -> str:
    eff_precs = args.effiseg_precisions if args.effiseg_cmd else []
    projections = [p for p in (project(records, impl, prec)
                               for impl, precs in (("effiseg", eff_precs),
                                                   ("torch", args.precisions))
                               for prec in precs) if p]
    torch_rec = next((r for r in records if r["impl"] == "torch"), {})
    eff_rec = next((r for r in records if r["impl"] == "effiseg" and r.get("device_name")), {})
    lines = [
        f"# effiseg vs PyTorch EffiSegNet ({started_at})",
        "",
        f"- device: {torch_rec.get('device_name', args.device)}"
        + (f" (effiseg reports: {eff_rec['device_name']})" if eff_rec else ""),
        f"- torch {et.torch.__version__}; settings: {json.dumps(settings)}; bf16-CL = "
        "torch.autocast(bfloat16) + channels_last; fp32 = NCHW with TF32 off",
        f"- {args.warmup} warm-up + {args.steps} timed steps per run, each timed to completion, "
        "median step time"
        + (f"; {args.rounds} alternating rounds (each side once per round, the side that goes "
           "first alternating), images/s the median over the rounds, ratios the median of the "
           "rounds' ratios (their range)"
           if args.rounds > 1 else "")
        + "; synthetic inputs resident on the device; training step = forward, "
        "Dice + BCE, backward, AdamW, loss read back; inference = eval-mode forward",
        "- memory: peak allocated / reserved MiB over the timed steps (each side's own "
        "accounting); ratios > 1x: effiseg faster (img/s) or larger (memory)",
        f"- {elapsed:.0f} s in all (budget {args.time_budget:.0f} s)"
        + (f"; skipped for time: {', '.join(skipped)}" if skipped else "")
        + ("" if done else "; INTERRUPTED: a partial report, written after the last "
           "configuration that finished"),
        "",
        *table(records, configs, args.modes, args.precisions, eff_precs),
        "",
        *jit_lines(records),
    ]
    errors = [r for r in records if r.get("error")]
    if errors:
        lines += ["Runs without a result:", ""]
        lines += [f"- {label(r['impl'], r['precision'])} {r['variant']} {r['size']} "
                  f"b{r['batch']} {r['mode']}: {r['error']}" for r in errors]
        lines.append("")
    lines += projection_lines(projections)
    effiseg_b8 = next((p["batch8"] for p in projections
                       if p["impl"] == "effiseg" and p["precision"] == "fp32" and p["batch8"]), None)
    if effiseg_b8:
        verdict = "under" if effiseg_b8["total_min"] < TARGET_MINUTES else "NOT under"
        lines.append(f"- target: under {TARGET_MINUTES} min on one card: effiseg fp32 batch 8 "
                     f"is {verdict} it")
    markdown = "\n".join(lines) + "\n"
    if args.out:
        with open(args.out, "w") as f:
            f.write(markdown)
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump({"started_at": started_at, "elapsed_s": round(elapsed, 1),
                       "time_budget_s": args.time_budget, "complete": done,
                       "argv": sys.argv[1:], "settings": settings, "skipped": skipped,
                       "records": records, "projection": projections}, f, indent=1)
    return markdown


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--effiseg-cmd", default="",
                    help="command prefix that runs effiseg's CLI (without it: PyTorch only)")
    ap.add_argument("--configs", default=DEFAULT_CONFIGS, type=et.parse_configs,
                    help=f"VARIANT:SIZE:BATCH list in priority order (default {DEFAULT_CONFIGS})")
    ap.add_argument("--modes", default="train,infer",
                    type=lambda s: et.split_list(s, ("train", "infer")))
    ap.add_argument("--precisions", default="fp32,bf16",
                    type=lambda s: et.split_list(s, ("fp32", "bf16")),
                    help="PyTorch's precisions (bf16 = autocast + channels_last)")
    ap.add_argument("--effiseg-precisions", default="fp32",
                    type=lambda s: et.split_list(s, ("fp32", "bf16")))
    ap.add_argument("--steps", type=int, default=15, help="timed steps per run")
    ap.add_argument("--warmup", type=int, default=5, help="untimed steps before them")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--threads", type=int, default=0, metavar="N",
                    help="with --device cpu: N threads on each side (torch.set_num_threads, "
                         "effiseg bench --threads); 0 leaves each library's default")
    ap.add_argument("--rounds", type=int, default=1, metavar="R",
                    help="run every side of a configuration R times, alternating (PyTorch, "
                         "effiseg, PyTorch, ...): ratios per round, reported as their median")
    ap.add_argument("--time-budget", type=float, default=150.0, metavar="SECONDS",
                    help="no run is started past this (default 150)")
    ap.add_argument("--out", help="write the markdown report here too (also after each "
                                  "configuration, so that a killed run leaves one)")
    ap.add_argument("--json-out", help="write every raw record (and the projection) here")
    args = ap.parse_args(argv)
    if args.device.startswith("cuda") and not et.torch.cuda.is_available():
        ap.error("CUDA is not available (use --device cpu for a functional run)")
    if args.steps < 1 or args.warmup < 0:
        ap.error("--steps must be at least 1 and --warmup at least 0")
    if args.rounds < 1:
        ap.error("--rounds must be at least 1")
    configs = args.configs

    start = START
    started_at = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    settings = et.configure_backends()
    if args.threads < 0:
        ap.error("--threads must be 0 or more")
    if args.threads > 0 and args.device == "cpu":
        et.torch.set_num_threads(args.threads)
        settings["cpu_threads"] = args.threads
    if args.device == "cpu":
        # both sides run with this process's environment (effiseg's child inherits it)
        settings["GLIBC_TUNABLES"] = os.environ.get("GLIBC_TUNABLES", "")
        if "glibc.malloc.mmap_max=0" not in settings["GLIBC_TUNABLES"]:
            print("e2e_compare: with glibc's default allocator settings PyTorch's CPU tensors "
                  "are mmap'ed and returned every step (page faults: its B0 224 training step "
                  "took 5.5x as long on the project's VM); the project's CPU benchmarks set "
                  f"GLIBC_TUNABLES={BENCH_TUNABLES}", file=sys.stderr)
    records, skipped, longest = [], [], 0.0
    sides = [("torch", args.precisions)]
    if args.effiseg_cmd:
        sides.append(("effiseg", args.effiseg_precisions))

    def left() -> float:
        return args.time_budget - (time.monotonic() - start)

    for variant, size, batch in configs:
        name = f"{variant}:{size}:{batch}"
        if left() <= 0 or left() < SAFETY * longest:
            skipped.append(name)
            continue
        t0 = time.monotonic()
        # the side that goes first alternates from round to round (PyTorch, effiseg; effiseg,
        # PyTorch; ...): a run right after the other side's was slower than one after a pause
        # (effiseg's CPU step 194.5 against 187.7 ms in 5 of 5 pairs), so a fixed order would
        # charge that to one side only
        runs = [(rnd, mode, impl, p) for mode in args.modes for rnd in range(1, args.rounds + 1)
                for impl, precs in (sides if rnd % 2 else sides[::-1]) for p in precs]
        for rnd, mode, impl, precision in runs:
            run_name = (f"{name} {mode} {label(impl, precision)}"
                        + (f" round {rnd}" if args.rounds > 1 else ""))
            if left() <= 0:  # a started configuration stops at the budget too
                skipped.append(run_name)
                continue
            print(f"{impl:8}{variant} {size} b{batch} {mode} {precision}"
                  + (f" round {rnd}/{args.rounds}" if args.rounds > 1 else ""), file=sys.stderr)
            if impl == "torch":
                record = et.bench(variant, size, batch, mode, precision, args.steps,
                                  args.warmup, args.device, settings)
            else:
                record = run_effiseg(args.effiseg_cmd, variant, size, batch, mode,
                                     precision, args.steps, args.warmup,
                                     args.device.split(":")[0],  # effiseg: cpu|cuda
                                     max(left(), MIN_CHILD_TIMEOUT_S), args.threads)
            if args.rounds > 1:
                record["round"] = rnd
            records.append(record)
        longest = max(longest, time.monotonic() - t0)
        report(args, configs, settings, started_at, time.monotonic() - start, records, skipped,
               done=False)
    print(report(args, configs, settings, started_at, time.monotonic() - start, records,
                 skipped, done=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
