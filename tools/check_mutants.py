"""Deliberate defects, applied one at a time to a scratch copy of the project: does the suite notice each one?

Each mutant replaces one exact piece of source text (it must occur exactly once) and runs the tests that should
catch it; a mutant whose tests still pass is a hole in the suite, printed as SURVIVED. Not part of CI: run it before
claiming that a test is enough.

    python tools/check_mutants.py            # every mutant
    python tools/check_mutants.py --only rng-restore,blurred-L
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Mutant:
    name: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]


MUTANTS = [
    Mutant("no mirrored context around the colorizer's network", "pix2gan/colorizer.py", "MIRROR = 16", "MIRROR = 0",
           ("tests/test_default_colorizer.py", "tests/test_hints.py")),
    Mutant("the README's latent command back to pix2pix's explicit weight", "README.md",
           "--steps 3000 --recon-weight 10 --holdout 0.2", "--steps 3000 --holdout 0.2", ("tests/test_latent.py",)),
    Mutant("flipped G loss sign", "pix2gan/losses.py", "return F.softplus(-l_f).mean()",
           "return F.softplus(l_f).mean()", ("tests/test_losses.py",)),
    Mutant("gradient penalty not applied", "pix2gan/step.py", "loss_d = loss_d + s.gp_weight * gp",
           "loss_d = loss_d + 0 * gp", ("tests/test_train.py",)),
    Mutant("weight clipping removed", "pix2gan/step.py", "for p in D.parameters():\n                    p.clamp_(-s.clip, s.clip)",
           "for p in D.parameters():\n                    p.clamp_(-1e9, 1e9)",
           ("tests/test_train.py",)),
    Mutant("rng-restore", "pix2gan/train.py", 'torch.set_rng_state(rng["torch"])', "pass",
           ("tests/test_training_features.py",)),
    Mutant("blurred-L", "pix2gan/colorizer.py",
           "        return lightness_u8(x[None, None] if x.ndim == 2 else x.permute(2, 0, 1)[None])\n",
           "        return F.avg_pool2d(lightness_u8(x[None, None] if x.ndim == 2 else x.permute(2, 0, 1)[None]),"
           " 3, 1, 1, count_include_pad=False)\n",
           ("tests/test_cli.py",)),
    Mutant("pipelined outputs written in place, not atomically", "pix2gan/batch.py",
           "    with replacing(dst) as tmp:\n        save(result, tmp)", "    save(result, dst)",
           ("tests/test_backends.py",)),
    Mutant("hold-out inside the training split", "pix2gan/data/source.py",
           "return [i for i in range(len(names)) if i not in held_set], held", "return list(range(len(names))), held",
           ("tests/test_data.py",)),
    Mutant("EMA buffers averaged, not copied", "pix2gan/step.py", "        b_ema.copy_(b)",
           "        b_ema.copy_(b.lerp(b_ema, beta) if b.is_floating_point() else b)",
           ("tests/test_training_features.py",)),
    Mutant("augmentation only on fakes", "pix2gan/step.py",
           "d_real, d_fake = judge(D, s, cond, real), judge(D, s, cond_f, fake)",
           "d_real, d_fake = D(torch.cat([cond, real], 1)), judge(D, s, cond_f, fake)",
           ("tests/test_training_features.py",)),
    Mutant("draws depend on the worker count", "pix2gan/data/source.py",
           "        gen = sample_generator(self.seed, *key)",
           "        gen = sample_generator(self.seed + (torch.utils.data.get_worker_info() is not None), *key)",
           ("tests/test_data.py",)),
    Mutant("listing change not checked on resume", "pix2gan/train.py", "if saved is None or saved == now:",
           "if True:", ("tests/test_data.py",)),
    Mutant("export parity check that can never fail", "pix2gan/export.py", "    if worst > tolerance:",
           "    if worst > float(\"inf\"):", ("tests/test_export.py",)),
    Mutant("a worker's error with PyTorch's traceback around it", "pix2gan/data/source.py",
           "    if \"Original Traceback\" not in text:", "    if True:", ("tests/test_faults.py",)),
    Mutant("D not frozen in the G phase", "pix2gan/step.py", "        D.requires_grad_(False)\n", "",
           ("tests/test_train.py",)),
    Mutant("hints of one batch share a stream", "pix2gan/train.py", "Stream.HINTS, slot)", "Stream.HINTS, 0)",
           ("tests/test_hints.py",)),
    Mutant("a hint's square lands transposed", "pix2gan/hints.py",
           "maps[0, 2, top:top + side_y, left:left + side_x] = 1.0",
           "maps[0, 2, left:left + side_x, top:top + side_y] = 1.0", ("tests/test_hints.py",)),
    Mutant("unknown keys of a hint ignored", "pix2gan/hints.py", "        if set(p) - POINT_KEYS:",
           "        if False:", ("tests/test_hints.py",)),
    Mutant("a spreader's new columns solved for each other's pixels", "pix2gan/propagate.py",
           "units[position[new], np.arange(len(new))] = 1.0", "units[position[new][::-1], np.arange(len(new))] = 1.0",
           ("tests/test_hints.py",)),
    Mutant("a spreader keeps every column it ever solved", "pix2gan/propagate.py",
           "        while len(self.columns) > self.max_columns:", "        while False:", ("tests/test_hints.py",)),
    Mutant("serve factorises nothing ahead of the first click", "pix2gan/serve.py",
           "            warm = BackgroundTask(self.jobs.when_idle, lambda: model.prepare_points(unclicked))",
           "            warm = None", ("tests/test_serve.py",)),
    Mutant("a latent sample's thumbnail left full size", "pix2gan/serve.py",
           "                out.thumbnail((preview, preview), Image.LANCZOS)", "                pass",
           ("tests/test_serve.py",)),
    Mutant("the folded resize layer's corners left uncorrected", "pix2gan/nets/unet.py",
           "            y[..., i, j] += (x[..., i, j]", "            y[..., i, j] += 0 * (x[..., i, j]",
           ("tests/test_nets.py",)),
    Mutant("every file of a batch given the first one's colours", "pix2gan/colorizer.py",
           "self._after_network(conds[j], ab[k:k + 1], lights[j])", "self._after_network(conds[j], ab[:1], lights[j])",
           ("tests/test_backends.py",)),
    Mutant("a failed batch's files all reported with the first one's error", "pix2gan/batch.py",
           "            except Exception:  # noqa: BLE001 - again one by one: the failure then names its file\n"
           "                pass", "            except Exception as e:  # noqa: BLE001\n"
           "                return [(item, e) for item, _ in ready]", ("tests/test_backends.py",)),
]


def run(mutant: Mutant, scratch: Path) -> tuple[bool, float]:
    """Apply ``mutant`` to a fresh copy in ``scratch``; True when its tests fail (the defect is caught)."""
    if scratch.exists():
        shutil.rmtree(scratch)
    shutil.copytree(ROOT, scratch, ignore=shutil.ignore_patterns(".git", "runs", "__pycache__", "*.egg-info"))
    target = scratch / mutant.path
    text = target.read_text()
    if text.count(mutant.old) != 1:
        raise SystemExit(f"{mutant.name}: the text to replace occurs {text.count(mutant.old)} times in {mutant.path}")
    target.write_text(text.replace(mutant.old, mutant.new))
    t0 = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": str(scratch)}  # the scratch copy shadows the installed package
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *mutant.tests],
                       cwd=scratch, env=env, capture_output=True, text=True)
    return r.returncode != 0, time.perf_counter() - t0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", help="comma-separated mutant names")
    args = p.parse_args()
    chosen = [m for m in MUTANTS if not args.only or m.name in args.only.split(",")]
    survived = []
    with tempfile.TemporaryDirectory() as tmp:
        # control: the same tests on an unchanged copy must pass, or "caught" would mean nothing
        tests = tuple(sorted({t for m in chosen for t in m.tests}))
        control = Mutant("control (no change)", chosen[0].path, chosen[0].old, chosen[0].old, tests)
        failed, sec = run(control, Path(tmp) / "p")
        if failed:
            raise SystemExit(f"the unchanged copy fails {', '.join(tests)}: fix the suite first")
        print(f"control   unchanged copy passes {', '.join(tests)} ({sec:.0f} s)", flush=True)
        for m in chosen:
            caught, sec = run(m, Path(tmp) / "p")
            print(f"{'caught  ' if caught else 'SURVIVED'}  {m.name}  ({', '.join(m.tests)}, {sec:.0f} s)", flush=True)
            if not caught:
                survived.append(m.name)
    print(f"\n{len(chosen) - len(survived)} of {len(chosen)} mutants caught"
          + (f"; survived: {', '.join(survived)}" if survived else ""))
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
