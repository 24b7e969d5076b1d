"""``python -m eae_sindy.discover``: discover the latent governing equations of a data set.

Pipeline: simulate (or read) the HDF5 data set → split (train/validation drawn at random from the
first 90 % of snapshots, test = the last 10 %) → train an EAE with the SINDy loss (Algorithm 1) →
collect an ensemble of encoders (Algorithm 2), each evaluated on the test data → write
``ensemble.h5``, ``summary.json`` and the analysis report into the output directory. The layout of
that directory is documented in ``docs/run_directory.md``.

Run ``python -m eae_sindy.discover --help`` for the options.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import h5py
import jax
import jax.numpy as jnp
import numpy as np
import optax

from eae_sindy import __version__
from eae_sindy.config import DiscoverConfig, config_from_dict, load_config, preset
from eae_sindy.eae import entropic_autoencoder
from eae_sindy.errors import ConfigError, RunDirectoryError, SamplerDivergedError
from eae_sindy.layout import ENSEMBLE_SCHEMA_VERSION, METRICS_COLUMNS
from eae_sindy.models import mlp_autoencoder
from eae_sindy.sindy import (
    polynomial_sine_library,
    sindy_loss,
    sindy_terms,
    solve_coefficients,
)
from eae_sindy.training import load_checkpoint, run_collection, run_training
from simulators import DatasetError
from simulators.lambda_omega import generate_dataset, read_dataset

__all__ = ["Split", "split_indices", "discover", "main"]


class Split(dict):
    """Index arrays ``train``, ``val``, ``test`` into the snapshot axis."""


def split_indices(
    n_snapshots: int, n_train: int, n_val: int, test_fraction: float, seed: int
) -> Split:
    """The reference split: test = the last ``test_fraction`` of the snapshots (time order);
    train and validation drawn at random, without overlap, from the rest. Requests larger than
    what is available are shrunk proportionally."""
    n_test = max(1, int(round(test_fraction * n_snapshots)))
    n_first = n_snapshots - n_test
    if n_first < 2:
        raise ConfigError(f"data has only {n_snapshots} snapshots: too few to split")
    if n_train + n_val > n_first:
        scale = n_first / (n_train + n_val)
        n_train = max(1, int(n_train * scale))
        n_val = min(int(n_val * scale), n_first - n_train)
    permutation = np.random.default_rng(seed).permutation(n_first)
    return Split(
        train=np.sort(permutation[:n_train]),
        val=np.sort(permutation[n_train : n_train + n_val]),
        test=np.arange(n_first, n_snapshots),
    )


def _prepare_output(out: Path, config: DiscoverConfig, data_path: str | None, resume: bool) -> None:
    """Refuse to mix runs: a directory with a different run, or any run without ``--resume``."""
    config_file = out / "config.json"
    # The JSON round trip turns tuples into lists, as they come back from the stored file.
    wanted = json.loads(json.dumps({**config.to_dict(), "data_path": data_path}))
    if config_file.exists():
        try:
            stored = json.loads(config_file.read_text())
        except json.JSONDecodeError as error:
            raise RunDirectoryError(
                f"{config_file}: unreadable ({error}); choose another --out"
            ) from None
        stored.pop("package_version", None)
        if stored != wanted:
            changed = sorted(k for k in set(stored) | set(wanted) if stored.get(k) != wanted.get(k))
            raise RunDirectoryError(
                f"{out} holds a different run (differs in: {', '.join(changed)}); nothing was "
                "overwritten. Choose another --out, or delete that directory."
            )
        if not resume:
            raise RunDirectoryError(
                f"{out} already holds this run; pass --resume to continue it (nothing was "
                "overwritten), or choose another --out."
            )
        return
    out.mkdir(parents=True, exist_ok=True)
    config_file.write_text(json.dumps({**wanted, "package_version": __version__}, indent=2))


def _check_budget(config: DiscoverConfig, split: Split, n_terms: int, data: str | None) -> None:
    """Refuse batch sizes the split cannot feed and least-squares fits that are underdetermined."""
    batch = config.train.batch_size
    where = data or "the simulated data set"
    if len(split["train"]) < batch:
        raise ConfigError(
            f"train.batch_size = {batch} exceeds the {len(split['train'])} training snapshots "
            f"of {where}; lower train.batch_size"
        )
    if min(len(split["test"]), batch) < n_terms and config.sindy.ridge == 0:
        raise ConfigError(
            f"the least-squares fit of {n_terms} library terms needs at least that many "
            f"snapshots per batch and in the test set (batch {batch}, test "
            f"{len(split['test'])}); raise train.batch_size / data.test_fraction or set sindy.ridge"
        )


def _simulated_data(out: Path, config: DiscoverConfig, progress: bool):
    """The preset's lambda-omega data set, simulated once into ``out/data.h5``."""
    cached = out / "data.h5"
    if not cached.exists():
        d = config.data
        generate_dataset(
            cached,
            n=d.n,
            n_snapshots=d.n_snapshots,
            dt=d.dt,
            L=d.L,
            d1=d.d1,
            d2=d.d2,
            beta=d.beta,
            seed=config.seed,
            noise_std=d.noise_std,
            mask=d.mask,
            progress=progress,
        )
    return read_dataset(cached)


def _pca_signal(x: np.ndarray, k: int = 3) -> np.ndarray:
    centred = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return (centred @ vt[:k].T).astype(np.float32)


class _EnsembleWriter:
    """Appends chunks of per-sample summaries to resizable HDF5 datasets."""

    def __init__(self, handle: h5py.File):
        self.handle = handle

    def __call__(self, chunk: dict[str, np.ndarray]) -> None:
        for name, values in chunk.items():
            values = np.asarray(values, np.float32)
            if name not in self.handle:
                self.handle.create_dataset(
                    name,
                    data=values,
                    maxshape=(None, *values.shape[1:]),
                    chunks=(max(1, min(len(values), 256)), *values.shape[1:]),
                )
            else:
                dataset = self.handle[name]
                start = dataset.shape[0]
                dataset.resize(start + len(values), axis=0)
                dataset[start:] = values


def _quantile_stats(xi: np.ndarray, term_names: Sequence[str]) -> dict[str, Any]:
    stats: dict[str, Any] = {}
    for j in range(xi.shape[2]):
        equation = {}
        for t, term in enumerate(term_names):
            values = xi[:, t, j].astype(np.float64)
            q05, q50, q95 = np.quantile(values, [0.05, 0.5, 0.95])
            equation[term] = {
                "mean": float(values.mean()),
                "std": float(values.std()),
                "q05": float(q05),
                "q50": float(q50),
                "q95": float(q95),
            }
        stats[f"x{j}'"] = equation
    return stats


def discover(
    config: DiscoverConfig,
    out: str | os.PathLike,
    *,
    data_path: str | None = None,
    resume: bool = False,
    progress: bool = True,
    report: bool = True,
) -> dict[str, Any]:
    """Run the whole pipeline; returns the summary dict (also written to ``summary.json``)."""
    out = Path(out)
    started = time.perf_counter()
    # Everything that can be refused is checked before anything is written, so a bad data file
    # or an impossible budget leaves no half-made run directory behind.
    dataset = read_dataset(data_path) if data_path is not None else None
    d, t, s = config.data, config.train, config.sampler
    n_snapshots = dataset.n_snapshots if dataset is not None else d.n_snapshots
    split = split_indices(n_snapshots, d.n_train, d.n_val, d.test_fraction, config.seed)
    library = polynomial_sine_library(
        config.model.latent_dim, config.sindy.poly_order, config.sindy.include_sine
    )
    _check_budget(config, split, library.n_terms, data_path)
    _prepare_output(out, config, data_path, resume)
    dataset = dataset or _simulated_data(out, config, progress)
    n_features = dataset.n_features
    x_train = jnp.asarray(dataset.x[split["train"]])
    dx_train = jnp.asarray(dataset.dx[split["train"]])
    test_x = np.asarray(dataset.x[split["test"]])
    test_dx = np.asarray(dataset.dx[split["test"]])
    test = {"x": jnp.asarray(test_x), "dx": jnp.asarray(test_dx)}
    n_eval = min(t.n_eval, len(split["test"]))

    model = mlp_autoencoder(
        n_features,
        config.model.latent_dim,
        config.model.encoder_widths,
        config.model.decoder_widths,
        config.model.activation,
    )
    weights = dict(
        lambda_x=config.sindy.lambda_x,
        lambda_dx=config.sindy.lambda_dx,
        ridge=config.sindy.ridge,
        reduction=config.sindy.reduction,
    )
    loss_fn = sindy_loss(model.encode, model.decode, library, **weights)
    n_train = x_train.shape[0]

    def sample_batch(key):
        index = jax.random.randint(key, (t.batch_size,), 0, n_train)
        return {"x": x_train[index], "dx": dx_train[index]}

    x_norm = jnp.sum(test["x"] ** 2)
    dx_norm = jnp.sum(test["dx"] ** 2)

    if config.sindy.fit_on == "all":
        fit_index = np.sort(np.concatenate([split["train"], split["val"], split["test"]]))
        fit = {"x": jnp.asarray(dataset.x[fit_index]), "dx": jnp.asarray(dataset.dx[fit_index])}

    def fitted_xi(enc_params, terms):
        if config.sindy.fit_on == "test":
            return terms.xi
        z, dz = jax.jvp(lambda x: model.encode(enc_params, x), (fit["x"],), (fit["dx"],))
        return solve_coefficients(library.evaluate(z), dz, config.sindy.ridge)

    def summarize(enc_params, dec_params):
        terms = sindy_terms(
            model.encode, model.decode, library, enc_params, dec_params, test, **weights
        )
        return {
            "xi": fitted_xi(enc_params, terms),
            "xi_test": terms.xi,
            "loss": terms.loss,
            "z": terms.z[:n_eval],
            "dz": terms.dz[:n_eval],
            "x_relative_mse": jnp.sum((test["x"] - terms.x_hat) ** 2) / x_norm,
            "dx_relative_mse": jnp.sum((test["dx"] - terms.dx_hat) ** 2) / dx_norm,
        }

    eae = entropic_autoencoder(
        loss_fn, s.build(), optax.adam(t.learning_rate), sample_batch, t.inner_steps, summarize
    )
    key = jax.random.PRNGKey(config.seed)
    key_model, key_eae = jax.random.split(key)
    state = eae.init(*model.init(key_model), key_eae)
    checkpoint = out / "checkpoint.msgpack"
    metrics_file = out / "metrics.csv"
    if resume and checkpoint.exists():
        state = load_checkpoint(checkpoint, state)
        print(f"resuming {out} from outer iteration {int(state.iteration)}", file=sys.stderr)
    _truncate_metrics(metrics_file, int(state.iteration))

    training_started = time.perf_counter()
    with metrics_file.open("a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=METRICS_COLUMNS, extrasaction="ignore")
        if handle.tell() == 0:
            writer.writeheader()

        def on_iteration(row):
            writer.writerow(row)
            handle.flush()

        state, stopped = run_training(
            eae,
            state,
            num_outer=t.outer_iterations,
            grad_tol=t.grad_tol,
            checkpoint_path=checkpoint,
            checkpoint_every=t.checkpoint_every,
            on_iteration=on_iteration,
            progress=progress,
        )
    train_time = time.perf_counter() - training_started
    val_loss = None  # JSON null when there is no validation split
    if len(split["val"]):
        val = {
            "x": jnp.asarray(dataset.x[split["val"]]),
            "dx": jnp.asarray(dataset.dx[split["val"]]),
        }
        val_loss = float(jax.jit(loss_fn)(state.sampler.position, state.decoder, val))

    ensemble_file = out / "ensemble.h5"
    partial = out / "ensemble.h5.partial"
    with h5py.File(partial, "w") as handle:
        state = run_collection(
            eae,
            state,
            num_samples=t.n_samples,
            thin=t.thin,
            chunk_size=t.chunk_size,
            sink=_EnsembleWriter(handle),
            progress=progress,
        )
        times = np.asarray(dataset.t[split["test"]], np.float64)
        handle.create_dataset("t", data=times[:n_eval])
        handle.create_dataset("data_signal", data=_pca_signal(test_x))
        handle.create_dataset("t_data_signal", data=times)
        examples = np.linspace(0, len(test_x) - 1, min(t.n_examples, len(test_x))).astype(int)
        x_examples = test["x"][examples]
        recon = model.decode(state.decoder, model.encode(state.sampler.position, x_examples))
        handle.create_dataset("x_examples", data=np.asarray(x_examples, np.float32))
        handle.create_dataset("x_recon_examples", data=np.asarray(recon, np.float32))
        handle.attrs.update(
            {
                "schema_version": ENSEMBLE_SCHEMA_VERSION,
                "package_version": __version__,
                "term_names": np.array(library.names, dtype=h5py.string_dtype()),
                "latent_dim": config.model.latent_dim,
                "poly_order": config.sindy.poly_order,
                "include_sine": config.sindy.include_sine,
                "temperature": s.temperature,
                "xi_fit_on": config.sindy.fit_on,
                "dt": float(np.median(np.diff(times))) if len(times) > 1 else float(d.dt),
                "grid_shape": np.asarray(dataset.grid_shape, np.int64),
            }
        )
        xi = handle["xi"][...]
        x_err = float(np.mean(handle["x_relative_mse"][...]))
        dx_err = float(np.mean(handle["dx_relative_mse"][...]))
        loss_mean = float(np.mean(handle["loss"][...]))
    os.replace(partial, ensemble_file)

    summary = {
        "schema_version": ENSEMBLE_SCHEMA_VERSION,
        "term_names": list(library.names),
        "equations": [f"x{j}'" for j in range(config.model.latent_dim)],
        "n_samples": int(xi.shape[0]),
        "coefficients": _quantile_stats(xi, library.names),
        "test_error": {"x_relative_mse": x_err, "dx_relative_mse": dx_err, "loss_mean": loss_mean},
        "training": {
            "outer_iterations": int(state.iteration),
            "stopped": stopped,
            "train_time_s": train_time,
            "validation_loss": val_loss,
            "wall_time_s": time.perf_counter() - started,
        },
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    if report:
        _write_report(out)
    return summary


def _truncate_metrics(path: Path, completed: int) -> None:
    """Keep only the rows of iterations a restored state has completed (resume safety)."""
    if not path.exists():
        return
    with path.open(newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if int(row["iteration"]) < completed]
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=METRICS_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def _write_report(out: Path) -> None:
    try:
        from analysis.report import write_report
    except ImportError:  # analysis package not installed alongside
        return
    try:
        write_report(out)
        print(f"report: {out / 'report.html'}", file=sys.stderr)
    except Exception as error:  # noqa: BLE001 - the results are on disk; never lose them to a plot
        print(
            f"warning: the report could not be written ({error}); results are in {out}",
            file=sys.stderr,
        )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m eae_sindy.discover",
        description="Discover latent governing equations with an entropic autoencoder (EAE) and "
        "report the uncertainty of every SINDy coefficient. With no arguments: simulate the "
        "'quick' lambda-omega reaction-diffusion data set and run the quick preset.",
    )
    parser.add_argument(
        "--data",
        help="HDF5 data set with datasets 'x' and 'dx' "
        "(default: simulate the preset's data set into OUT/data.h5)",
    )
    parser.add_argument("--out", default=None, help="output directory (default: runs/PRESET)")
    parser.add_argument(
        "--preset",
        default="quick",
        choices=["quick", "paper"],
        help="hyper-parameter preset (default: quick)",
    )
    parser.add_argument("--config", help="JSON or TOML file overriding preset values")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: preset's)")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted run in OUT from its last checkpoint",
    )
    parser.add_argument("--no-report", action="store_true", help="skip the analysis report")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    out = Path(args.out or f"runs/{args.preset}")
    try:
        config = preset(args.preset)
        if args.config:
            config = load_config(args.config, base=config)
        if args.seed is not None:
            config = config_from_dict({"seed": args.seed}, base=config, source="--seed")
        summary = discover(
            config,
            out,
            data_path=args.data,
            resume=args.resume,
            progress=not args.quiet,
            report=not args.no_report,
        )
    except (ConfigError, DatasetError, RunDirectoryError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except SamplerDivergedError as error:
        print(f"error: {error}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print(
            f"\ninterrupted: the last checkpoint is in {out}; continue with --resume",
            file=sys.stderr,
        )
        return 130
    print(_format_summary(summary, out))
    return 0


def _format_summary(summary: dict[str, Any], out: Path) -> str:
    lines = [f"EAE ensemble of {summary['n_samples']} encoders written to {out}"]
    for equation, terms in summary["coefficients"].items():
        parts = [
            f"{v['mean']:+.3f}(±{v['std']:.3f}) {name}"
            for name, v in terms.items()
            if abs(v["mean"]) >= 0.1
        ]
        lines.append(f"  {equation} = " + (" ".join(parts) if parts else "0"))
    err = summary["test_error"]
    lines.append(
        f"  test relative MSE: x {err['x_relative_mse']:.3g}, dx {err['dx_relative_mse']:.3g}"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
