"""Speed of getting a fit, measured side by side in one run (prints figures; asserts nothing).

    python benchmarks/fit_speed.py [--backends nutpie-numba,nutpie-jax,numpyro,blackjax,pymc] [--skip-backends]
                                   [--samplers nutpie,numpyro,pymc] [--model1 REV] [--skip-model1]

Three tables, every figure measured in this run on this machine:

1. **Sampler backends** on model 2 with the default priors and evidence (4 chains x 1000 tuning + 1000 draws,
   target_accept 0.9, seed 1). Each backend runs in a new process twice: *cold* (empty PyTensor, numba and JAX
   compile caches) and *warm* (the caches the cold run filled). Columns: imports, compile, sampling, total, peak
   RSS, divergences, min bulk ESS of the sampled variables and bulk ESS per second of sampling. For numpyro,
   blackjax and PyMC's own sampler the compile step happens inside ``pm.sample`` and is reported in "sample".
   JAX backends need the optional ``bench`` extra (``pip install -e '.[bench]'``); a missing one is reported.
2. **Whole-process ``riskmodel`` timings** per ``--sampler`` (``--samplers``), each in its own empty caches:
   ``riskmodel --help``; the first ``riskmodel run`` with empty compile caches and an empty fit store (a fresh
   machine); a new key (``--seed 2``) in a warm environment; the same key again (read from the fit store, median of
   5); whether the first (cold) run's draws are those of a warm refit of the same key; refits inside a running
   process (a new seed, another prior set); each with its peak RSS.
3. **Model 1 vs model 2**: riskmodel 0.1.0 (git revision ``--model1``, checked out in a temporary worktree) and
   this checkout, each `run` cold and warm in new processes and a refit inside a running process, with
   divergences and the smallest bulk ESS.

The load average at the start and end is printed: on a busy machine every figure is inflated.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BACKENDS = ("nutpie-numba", "nutpie-jax", "numpyro", "blackjax", "pymc")


def cache_env(root: Path) -> dict[str, str]:
    """Environment whose compile caches and fit store all live under ``root`` (empty at first)."""
    env = dict(os.environ)
    env.update(
        PYTENSOR_FLAGS=f"base_compiledir={root}/pytensor",
        NUMBA_CACHE_DIR=f"{root}/numba",
        JAX_COMPILATION_CACHE_DIR=f"{root}/jax",
        JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
        JAX_PLATFORMS="cpu",
        XDG_CACHE_HOME=f"{root}/xdg",
        RISKMODEL_CACHE_DIR=f"{root}/store",
    )
    return env


# ------------------------------------------------------------------------------------------------ child: one backend
def child(backend: str) -> None:
    """Fit the default model with one backend and print one JSON line of timings (runs in a new process)."""
    import resource

    t0 = time.perf_counter()
    import pymc as pm

    from riskmodel.data.evidence import load_evidence
    from riskmodel.data.priors import load_priors
    from riskmodel.model.diagnostics import diagnose
    from riskmodel.model.graph import build_model
    from riskmodel.model.spec import model_data

    if backend.startswith("nutpie"):
        import nutpie
    elif backend in ("numpyro", "blackjax"):
        import jax  # noqa: F401
        import pymc.sampling.jax
    t_import = time.perf_counter() - t0

    data = model_data(load_priors("baseline@2.0.0"), load_evidence("published-evals@2.0.0"))
    model = build_model(data, likelihood=True)
    kw = {"draws": 1000, "tune": 1000, "chains": 4}
    t1 = time.perf_counter()
    if backend.startswith("nutpie"):
        if backend == "nutpie-jax":
            compiled = nutpie.compile_pymc_model(model, backend="jax")
        else:  # as the package compiles it: numba with fast-math off (riskmodel.model.sampling.exact_float)
            from riskmodel.model.sampling import compile_nutpie

            compiled = compile_nutpie(model)
        t_compile = time.perf_counter() - t1
        t2 = time.perf_counter()
        trace = nutpie.sample(compiled, seed=1, cores=2, progress_bar=False, target_accept=0.9, **kw)
    else:
        t_compile = 0.0
        t2 = time.perf_counter()
        with model:
            trace = pm.sample(
                nuts_sampler=backend,
                random_seed=1,
                target_accept=0.9,
                progressbar=False,
                compute_convergence_checks=False,
                cores=2,
                **kw,
            )
    t_sample = time.perf_counter() - t2
    post = trace["posterior"]
    sampled = [v for v in post.data_vars if v.endswith("_block") or v in ("pattern_raw", "competence")]
    diag = diagnose(trace, sampled, expected_draws=1000)
    print(
        json.dumps(
            {
                "import": t_import,
                "compile": t_compile,
                "sample": t_sample,
                "total": time.perf_counter() - t0,
                "rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
                "divergences": diag.divergences,
                "ess_bulk": diag.min_ess_bulk,
                "r_hat": diag.max_r_hat,
            }
        )
    )


def run_child(backend: str, env: dict[str, str]) -> dict[str, float] | str:
    """One backend run in a new process: its figures, or the last line of its error."""
    proc = subprocess.run(
        [sys.executable, __file__, "--child", backend], env=env, cwd=ROOT, capture_output=True, text=True
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return f"failed (exit {proc.returncode}): {tail[:90]}"
    return json.loads(lines[-1])


def backend_table(backends: list[str]) -> None:
    """Print cold and warm figures of every backend."""
    print("\n## Sampler backends (model 2, defaults, 4 x (1000 tune + 1000 draws), new process each)\n")
    head = "| backend | run | imports s | compile s | sample s | total s | peak RSS GiB | div | min ESS | ESS/s |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for backend in backends:
        with tempfile.TemporaryDirectory() as tmp:
            env = cache_env(Path(tmp))
            for run in ("cold", "warm"):
                got = run_child(backend, env)
                if isinstance(got, str):
                    print(f"| {backend} | {run} | {got} |")
                    break
                ess_s = got["ess_bulk"] / got["sample"] if got["sample"] > 0 else float("nan")
                print(
                    f"| {backend} | {run} | {got['import']:.1f} | {got['compile']:.1f} | {got['sample']:.1f} | "
                    f"{got['total']:.1f} | {got['rss_gib']:.2f} | {got['divergences']} | {got['ess_bulk']:.0f} | "
                    f"{ess_s:.0f} |",
                    flush=True,
                )


# ------------------------------------------------------------------------------------------------ whole process
def timed(argv: list[str], env: dict[str, str], cwd: Path = ROOT) -> tuple[float, float, int]:
    """Wall time, peak RSS (GiB) and exit code of one ``riskmodel`` command in a new process."""
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", RSS_WRAPPER, *argv], env=env, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - t
    rss = next((float(ln.split()[1]) for ln in proc.stderr.splitlines() if ln.startswith("PEAK_RSS_GIB")), float("nan"))
    return wall, rss, proc.returncode


#: Runs the CLI in-process and reports its own peak RSS on stderr (children's RSS would mix commands).
RSS_WRAPPER = (
    "import resource, sys\n"
    "from riskmodel.cli import main\n"
    "try:\n"
    "    code = main(sys.argv[1:])\n"
    "except SystemExit as exc:\n"
    "    code = exc.code\n"
    "print('PEAK_RSS_GIB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, file=sys.stderr)\n"
    "sys.exit(code or 0)\n"
)


def _draws_hash(argv: list[str], env: dict[str, str]) -> str:
    """The draws sha256 (first 16 hex digits) of a ``riskmodel ... --json`` command."""
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("riskmodel")), *argv, "--json"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    try:
        return json.loads(proc.stdout)["provenance"]["draws_sha256"][:16]
    except (json.JSONDecodeError, KeyError):
        return f"failed (exit {proc.returncode})"


def process_table(samplers: list[str]) -> None:
    """Print the whole-process timings of each sampler (``--sampler``), each in its own empty caches."""
    print("\n## Whole-process timings (`riskmodel run --no-progress --sampler S` on the defaults, 4 x 1000)\n")
    print("| sampler | what | wall s | peak RSS GiB | exit |")
    print("|---|---|---|---|---|")
    for sampler in samplers:
        with tempfile.TemporaryDirectory() as tmp:
            env = cache_env(Path(tmp))
            if sampler == samplers[0]:
                helps = [timed(["--help"], env) for _ in range(5)]
                print(
                    f"| - | `riskmodel --help` (median of 5) | {statistics.median(h[0] for h in helps):.2f} | "
                    f"{max(h[1] for h in helps):.2f} | {helps[0][2]} |",
                    flush=True,
                )
            run = ["run", "--no-progress", "--sampler", sampler]
            for label, argv in (
                ("first `run`, empty compile caches and fit store (fresh machine)", run),
                ("new key `--seed 2`, warm compile caches", [*run, "--seed", "2"]),
            ):
                wall, rss, code = timed(argv, env)
                print(f"| {sampler} | {label} | {wall:.1f} | {rss:.2f} | {code} |", flush=True)
            stored = [timed(run, env) for _ in range(5)]
            print(
                f"| {sampler} | same key again, read from the fit store (median of 5) | "
                f"{statistics.median(x[0] for x in stored):.2f} | {max(x[1] for x in stored):.2f} | {stored[0][2]} |"
            )
            # the first run's draws (stored, made with empty compile caches) against a refit with warm caches
            cold = _draws_hash(run, env)
            warm = _draws_hash([*run, "--no-cache"], env)
            same = "yes" if cold == warm else f"NO ({cold} vs {warm})"
            label = "draws of the first (cold) run = draws refitted warm (`--no-cache`)"
            print(f"| {sampler} | {label} | {same} | - | - |")
            script = (
                "import time, riskmodel\n"
                f"riskmodel.fit(seed=3, cache=False, sampler={sampler!r})\n"
                f"t = time.perf_counter(); riskmodel.fit(seed=4, cache=False, sampler={sampler!r})\n"
                "print(time.perf_counter() - t)\n"
                f"t = time.perf_counter(); riskmodel.fit('skeptic@1.0.0', seed=3, cache=False, sampler={sampler!r})\n"
                "print(time.perf_counter() - t)\n"
            )
            proc = subprocess.run([sys.executable, "-c", script], env=env, cwd=ROOT, capture_output=True, text=True)
            if proc.returncode:
                print(f"| {sampler} | refit inside a running process | failed: {proc.stderr.strip()[-80:]} | - | - |")
                continue
            seed_s, priors_s = (float(x) for x in proc.stdout.strip().splitlines()[-2:])
            print(f"| {sampler} | refit inside a running process, new seed | {seed_s:.1f} | - | 0 |")
            print(f"| {sampler} | refit inside a running process, another prior set | {priors_s:.1f} | - | 0 |")


def model_table(rev: str) -> None:
    """Model 1 (package at git revision ``rev``) against model 2 (this checkout), in the same run and caches."""
    print(f"\n## Model 1 (riskmodel at {rev}) vs model 2 (this checkout), `run` on each default\n")
    print("| model | cold run s | warm run s | refit in process s | peak RSS GiB | divergences | min bulk ESS |")
    print("|---|---|---|---|---|---|---|")
    script = (
        "import json, time, resource, riskmodel\n"
        "kw = {'cache': False} if 'cache' in riskmodel.fit.__code__.co_varnames else {}\n"
        "r = riskmodel.fit(seed=3, **kw)\n"
        "t = time.perf_counter(); riskmodel.fit(seed=4, **kw); dt = time.perf_counter() - t\n"
        "d = r.diagnostics\n"
        "print(json.dumps({'refit': dt, 'div': d.divergences, 'ess': d.min_ess_bulk,\n"
        "                  'rss': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}))\n"
    )
    with tempfile.TemporaryDirectory() as tmp:
        wt = Path(tmp) / "model1"
        made = subprocess.run(["git", "worktree", "add", "-q", "--detach", str(wt), rev], cwd=ROOT, capture_output=True)
        if made.returncode:
            print(f"| model 1 | cannot check out {rev}: {made.stderr.decode().strip()[:80]} |")
            return
        try:
            for label, where in (("model 1", wt), ("model 2", ROOT)):
                env = cache_env(Path(tmp) / label.replace(" ", ""))
                env["PYTHONPATH"] = str(where)
                argv = ["run", "--no-progress"] + (["--no-cache"] if where == ROOT else [])
                t_cold, rss_cold, _ = timed(argv, env, where)
                t_warm, rss_warm, _ = timed(argv, env, where)
                proc = subprocess.run(
                    [sys.executable, "-c", script], env=env, cwd=where, capture_output=True, text=True
                )
                got = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.returncode == 0 else None
                if got is None:
                    print(f"| {label} | refit script failed: {proc.stderr.strip()[-80:]} |")
                    continue
                rss = max(rss_cold, rss_warm, got["rss"])
                print(
                    f"| {label} | {t_cold:.1f} | {t_warm:.1f} | {got['refit']:.1f} | {rss:.2f} | "
                    f"{got['div']} | {got['ess']:.0f} |",
                    flush=True,
                )
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(wt)], cwd=ROOT, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--backends", default=",".join(BACKENDS), help="comma-separated backends to benchmark")
    parser.add_argument("--skip-backends", action="store_true", help="only the whole-process tables")
    parser.add_argument(
        "--samplers", default="nutpie,numpyro,pymc", help="comma-separated `--sampler` values for the process table"
    )
    parser.add_argument("--skip-model1", action="store_true", help="leave out the model 1 vs model 2 table")
    parser.add_argument("--model1", default="da49968", help="git revision of riskmodel 0.1.0 (model 1) to compare")
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    print(f"load average at start: {os.getloadavg()[0]:.2f} (cores: {os.cpu_count()})")
    if not args.skip_backends:
        backend_table([b for b in args.backends.split(",") if b])
    process_table([x for x in args.samplers.split(",") if x])
    if not args.skip_model1:
        model_table(args.model1)
    print(f"\nload average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
