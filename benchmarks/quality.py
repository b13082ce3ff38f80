"""Quality: the test ELBO and NLL, in nats, of every model the course trains, at the lessons' settings.

    .venv/bin/python benchmarks/quality.py [--quick] [--k 1000] [--k-main 5000] [--threads N]

The models are the lessons' own: each notebook that trains (it calls load_or_train) is executed on the
offline digits in a cache folder (~/.cache/vae_course/benchmarks, or $VAE_COURSE_BENCH_CACHE), where
its load_or_train reuses a checkpoint trained at the notebook's current settings (copied from
notebooks/checkpoints when there) and trains the rest. Every checkpoint found there is scored on the
500 offline test digits, binarized once (seed 0, as the lessons do):

  ELBO  = mean over digits of E_q[log p(x | z)] - KL(q(z | x) || p(z)), Monte Carlo over 100 z per digit;
  NLL   = -L_k, the importance-weighted bound with k samples per digit (an upper bound on -log p(x)),
          k = 5000 for lesson 06's VAE (as papers report) and 1000 for the others (the lessons' k);
          also in bits per dimension, NLL / (784 ln 2), the unit of image-model papers.

Target: lesson 06's VAE at NLL <= 100 nats on these digits.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import torch

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import MAIN_MODEL, lesson_checkpoints, machine_line, parser, print_table, set_threads
from vae_course import evaluate
from vae_course.vae import GaussianVAE
from vae_course.checkpoints import load_checkpoint
from vae_course.data import binarize, load_offline_mnist

NLL_TARGET = 100.0


def mean_se(values: torch.Tensor) -> tuple[float, float]:
    return float(values.mean()), float(values.std() / math.sqrt(len(values)))


def not_scored_reason(model) -> str | None:
    """Why a checkpoint gets no Bernoulli ELBO / NLL on binary digits (None: it gets them)."""
    if not callable(getattr(model, "encode", None)):
        return f"{type(model).__name__} has no latent variable: not a generative model (lesson 08's judge)"
    if isinstance(model, GaussianVAE):
        return "Gaussian pixels: a density on grey images, not comparable with nats of binary digits"
    return None


def bits_per_dim(nats: float, dims: int) -> float:
    """Nats per image as bits per pixel: divide by the number of pixels and by ln 2."""
    return nats / (dims * math.log(2))


def score(model, x: torch.Tensor, y: torch.Tensor, k: int, elbo_samples: int) -> tuple[str, str, float]:
    """(ELBO +- se, NLL +- se (bits/dim), NLL) in nats per digit; a conditional model's are those of log p(x | y)."""
    g = torch.Generator().manual_seed(0)
    conditional = getattr(model, "takes_labels", False)
    labels = {"y": y} if conditional else {}
    e, e_se = mean_se(evaluate.elbo(model, x, n_samples=elbo_samples, generator=g, reduction="none", **labels))
    given = " (log p(x given y))" if conditional else ""
    b, b_se = mean_se(evaluate.iwae_bound(model, x, k, generator=g, reduction="none", **labels))
    bits = bits_per_dim(-b, x.shape[1])
    return f"{e:.2f} +- {e_se:.2f}{given}", f"{-b:.2f} +- {b_se:.2f} = {bits:.4f} bits/dim{given}", -b


def describe(model, key: dict) -> tuple[str, str]:
    """('VAE 784-200-10', 'epochs 40, beta 1.0, lr 0.001, batch 128, dynamic binarization, 4,500 offline digits')."""
    config = model.config() if hasattr(model, "config") else {}
    shape = "-".join(str(config[k]) for k in ("input_dim", "hidden_dim", "latent_dim") if k in config)
    extra = ", ".join(f"{k} {v}" for k, v in config.items() if k not in ("input_dim", "hidden_dim", "latent_dim"))
    architecture = f"{type(model).__name__} {shape}" + (f" ({extra})" if extra else "")
    training = [f"{key[k]} epochs" if k == "epochs" else f"{k} {key[k]}" for k in ("epochs", "beta", "lr", "batch_size") if k in key]
    # keys hold the settings or their repr (lesson 09 stores repr(v)): "False" is a string, and truthy
    training.append("dynamic binarization" if key.get("binarize") in (True, "True") else "grey levels (BCE)")
    n_train = key.get("n_train")
    training.append(f"{n_train:,} {key.get('source')} digits" if isinstance(n_train, int) else f"{key.get('source')} digits")
    return architecture, ", ".join(training)


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__)
    p.add_argument("--k", type=int, default=1000, help="samples per digit of the NLL estimate (default %(default)s)")
    p.add_argument("--k-main", type=int, default=5000,
                   help=f"k for {MAIN_MODEL}, the model of the NLL target (default %(default)s, as papers report)")
    args = p.parse_args(argv)
    set_threads(args.threads)
    k, k_main, elbo_samples = (100, 100, 10) if args.quick else (args.k, args.k_main, 100)
    paths, problems = lesson_checkpoints(reuse=args.quick, log=lambda line: print(line, file=sys.stderr, flush=True))
    data = load_offline_mnist()
    x_eval, y_eval = binarize(data.x_test, generator=0), data.y_test  # the lessons' fixed binary test digits
    rows, verdict, failed = [], f"target NLL <= {NLL_TARGET:.0f} for {MAIN_MODEL}: no such checkpoint", bool(problems)
    for path in paths:
        model, _, key = load_checkpoint(path)
        architecture, training = describe(model, key)
        k_here = k_main if path.stem == MAIN_MODEL else k
        print(f"scoring {path.name} (k = {k_here}) ...", file=sys.stderr, flush=True)
        reason = not_scored_reason(model)
        if reason:
            rows.append([path.stem, architecture, training, reason, ""])
            continue
        try:
            elbo_text, nll_text, nll = score(model, x_eval, y_eval, k_here, elbo_samples)
        except Exception as error:  # a model the evaluation functions cannot score: say so in its row
            rows.append([path.stem, architecture, training, f"not scored: {type(error).__name__}: {error}", ""])
            failed = True
            continue
        rows.append([path.stem, architecture, training, elbo_text, nll_text + f" (k = {k_here:,})"])
        if path.stem == MAIN_MODEL:
            # the same score on as many of its own training digits: a large gap is overfitting, a small one undertraining
            x_seen = binarize(data.x_train[:len(x_eval)], generator=0)
            _, seen_text, nll_seen = score(model, x_seen, data.y_train[:len(x_eval)], k_here, elbo_samples)
            verdict = (f"target NLL <= {NLL_TARGET:.0f} nats for {MAIN_MODEL}: "
                       + ("met" if nll <= NLL_TARGET else f"MISSED by {nll - NLL_TARGET:.1f} nats") + f" ({nll:.2f}); "
                       f"on {len(x_seen)} of its own training digits (binarized alike) its NLL is {seen_text}: "
                       f"a generalization gap of {nll - nll_seen:.1f} nats")
    print_table(
        f"Quality: nats per digit on the {len(x_eval)} offline test digits, binarized (seed 0)",
        ["checkpoint", "model", "trained with", "test ELBO", "NLL = -L_k"], rows,
        [f"machine: {machine_line()}",
         f"ELBO: {elbo_samples} z per digit, KL in closed form; NLL = -L_k, the importance-weighted bound with k "
         f"samples per digit (k = {k_main:,} for {MAIN_MODEL}, {k:,} for the others); +- is one standard error over the digits; higher ELBO and lower NLL are better",
         "binarization: each pixel ~ Bernoulli(grey level), drawn once with vae_course.data.binarize(generator=0), "
         "the digits lessons 06-07 evaluate on; models trained with dynamic binarization are scored as "
         "proper log-likelihoods of binary images",
         verdict, *problems]
        + (["QUICK RUN: fewer samples (and lessons not re-run when their checkpoints exist)."] if args.quick else []))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
