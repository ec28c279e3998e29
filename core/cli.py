"""The ``seqtk`` command line: run, validate, list, plugins, sample (plus plugins' verbs).

Errors a user can fix are printed as one paragraph with exit code 2, never as a
traceback. torch is imported only by verbs that need it, so ``seqtk list`` is quick.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
import warnings
from pathlib import Path
from typing import Sequence

from seqtk.core.errors import SeqtkError
from seqtk.core.plugins import BLOCK_ENV, PluginHost
from seqtk.core.registry import KINDS

TRACEBACK_ENV = "SEQTK_TRACEBACK"


def build_parser(host: PluginHost | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="seqtk", description="Train GANs over sequences from YAML recipes.")
    parser.add_argument("--version", action="version", version=f"seqtk {_version()}")
    parser.add_argument(
        "--no-plugin",
        action="append",
        default=[],
        metavar="NAME",
        help=f"do not load the plugin NAME (repeatable; also {BLOCK_ENV}=a,b)",
    )
    verbs = parser.add_subparsers(dest="verb", metavar="COMMAND")

    run = verbs.add_parser("run", help="train a recipe into its run directory")
    _recipe_arguments(run)
    run.add_argument("--resume", action="store_true", help="continue from the run directory's last checkpoint")
    run.add_argument("--overwrite", action="store_true", help="discard a previous run in the same directory")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.set_defaults(handler=_cmd_run)

    check = verbs.add_parser("validate", help="check a recipe without running it")
    _recipe_arguments(check)
    check.set_defaults(handler=_cmd_validate)

    listing = verbs.add_parser("list", help="list the registered components and presets")
    listing.add_argument("kind", nargs="?", choices=[*KINDS, "presets"], help="only this kind")
    listing.set_defaults(handler=_cmd_list)

    plugins = verbs.add_parser("plugins", help="list plugins with their versions and hooks")
    plugins.add_argument(
        "--check",
        action="store_true",
        help="exit 1 if any plugin failed to load, any registered target fails to import, or two plugins register one name (for CI)",
    )
    plugins.set_defaults(handler=_cmd_plugins)

    sample = verbs.add_parser("sample", help="generate sequences from a run's last (or best) checkpoint")
    sample.add_argument("run_dir", type=Path, help="a run directory written by 'seqtk run'")
    which = sample.add_mutually_exclusive_group()
    which.add_argument("--best", action="store_true", help="from the best checkpoint (the run's recipe set output.keep_best)")
    which.add_argument("--step", type=int, default=None, help="from the checkpoint of this step")
    sample.add_argument("-n", "--count", type=int, default=None, help="how many sequences (default 100; with --conditions, per condition, default 1)")
    sample.add_argument("--out", type=Path, default=None, help="folder for the samples (default RUN_DIR/generated)")
    sample.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    sample.add_argument("--label", default=None, metavar="CLASS", help="class-conditional runs: every sample of this class (name or index); default: the test split's labels in turn")
    sample.add_argument("--conditions", type=Path, default=None, metavar="FILE", help="conditional runs: a file of conditions in the domain's format (text: one label or context per line; music: one mode per line, or .mid melodies to put a bass under; time series: a CSV of histories to forecast from, or of label/static values); --count samples for each")
    sample.set_defaults(handler=_cmd_sample)

    scoring = verbs.add_parser(
        "score",
        help="score a file of samples against real data with a domain's metrics (prints JSON)",
        description="Score samples from any model with seqtk's metric code, e.g. "
        "seqtk score text --real test.txt --samples gen.txt --metric bleu --metric self-bleu-4 (a family name such as bleu "
        "means all its orders, bleu-2 .. bleu-5), or "
        "seqtk score timeseries --real data.csv --samples gen.csv --param time_column=date",
    )
    scoring.add_argument("domain", help="the domain that reads both files (seqtk list domains)")
    scoring.add_argument("--real", type=Path, required=True, help="real (held-out) data")
    scoring.add_argument("--samples", type=Path, required=True, help="the samples to score")
    scoring.add_argument("--metric", action="append", default=[], metavar="NAME", help="a metric, or a family of them such as bleu, self-bleu or distinct (repeatable; default: the domain's)")
    scoring.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="a reading option of the domain (repeatable), e.g. tokenizer=char or window=24")
    scoring.add_argument("--out", type=Path, default=None, help="also write the JSON to this file")
    scoring.set_defaults(handler=_cmd_score)

    sweeping = verbs.add_parser("sweep", help="tune a recipe with Optuna: one run per trial, resumable, several workers (docs/sweeps.md)")
    sweeping.add_argument("sweep_file", type=Path, help="a sweep YAML file (base recipe, search space, metric, trials)")
    sweeping.add_argument("--json", action="store_true", help="print the trials and the best one as JSON (progress lines go to stderr)")
    sweeping.set_defaults(handler=_cmd_sweep)

    report = verbs.add_parser("report", help="write one self-contained HTML page about one or more runs (needs the plot extra)")
    report.add_argument("run_dirs", type=Path, nargs="+", metavar="RUN", help="run directories written by 'seqtk run' (several: curves overlaid)")
    report.add_argument("-o", "--out", type=Path, default=None, help="the HTML file (default: RUN/report.html of the first RUN)")
    report.add_argument("--samples", type=int, default=8, help="examples shown per side where a domain shows a few (default 8)")
    report.set_defaults(handler=_cmd_report)

    comparing = verbs.add_parser("compare", help="runs side by side: final and best metrics, recipe differences, wall time")
    comparing.add_argument("run_dirs", type=Path, nargs="+", metavar="RUN", help="run directories written by 'seqtk run' (in progress or interrupted ones too)")
    comparing.add_argument("--metric", default=None, metavar="NAME", help="only this metric")
    comparing.add_argument("--json", action="store_true", help="print a JSON object instead of the table")
    comparing.set_defaults(handler=_cmd_compare)

    if host is not None:
        host.add_commands(verbs)
    return parser


def _recipe_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recipe", type=Path, help="a recipe YAML file")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY.PATH=VALUE",
        help="override a recipe value (repeatable), e.g. --set train.batch_size=32",
    )


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # Warnings print as one "seqtk: warning: ..." line while a command runs; restored after,
    # so a program (or a test) that calls main() keeps its own warning display.
    shown_before, warnings.showwarning = warnings.showwarning, _show_warning
    try:
        return _main(argv)
    finally:
        warnings.showwarning = shown_before


def _main(argv: list[str]) -> int:
    blocked = _pre_parse_blocked(argv)
    try:
        host = PluginHost(blocked=blocked)
        parser = build_parser(host)
        args = parser.parse_args(argv)
        if args.verb is None:
            parser.print_help()
            return 2
        args.host = host
        return int(args.handler(args) or 0)
    except SeqtkError as exc:
        message = _for_this_rank(exc)
        if message:
            print(message, file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("seqtk: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`seqtk list | head`): not an error of ours. Point stdout at
        # /dev/null so the interpreter's final flush does not raise a second time.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as exc:  # a bug in seqtk or a plugin: say where, keep the traceback opt-in
        if os.environ.get(TRACEBACK_ENV, "") not in ("", "0"):
            raise
        print(_unexpected_error_message(exc), file=sys.stderr)
        return 1


def _rank() -> str:
    """This process's rank under torchrun ("0" otherwise), read without importing torch."""
    return os.environ.get("RANK", "0")


def _for_this_rank(exc: SeqtkError) -> str:
    """What this process prints: under torchrun, rank 0 speaks for all and other ranks add only their own errors.

    Errors every rank raises alike (``reported_by_rank_zero``: a refusal rank 0 printed, the
    stop notice) are not repeated; anything else from another rank is printed with its rank, since it may be
    that rank's alone (a data file missing on one node).
    """
    rank = _rank()
    if rank != "0" and exc.reported_by_rank_zero:
        return ""
    return str(exc) if rank == "0" else f"rank {rank}: {exc}"


def _unexpected_error_message(exc: BaseException) -> str:
    """Name the innermost frame outside torch: that is the code (seqtk's or a plugin's) to look at."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if f"{os.sep}torch{os.sep}" not in f.filename] or frames
    where = f"\n  raised in {ours[-1].name} at {ours[-1].filename}:{ours[-1].lineno}" if ours else ""
    return (
        f"seqtk: unexpected {type(exc).__name__}: {exc}{where}\n"
        f"  This is a bug in seqtk or in a plugin; set {TRACEBACK_ENV}=1 to see the full traceback."
    )


def _pre_parse_blocked(argv: list[str]) -> list[str]:
    """--no-plugin must act before plugins load, i.e. before the full parser exists."""
    blocked = []
    for index, arg in enumerate(argv):
        if arg == "--no-plugin" and index + 1 < len(argv):
            blocked.append(argv[index + 1])
        elif arg.startswith("--no-plugin="):
            blocked.append(arg.split("=", 1)[1])
    return blocked


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:  # type: ignore[no-untyped-def]
    print(f"seqtk: warning: {message}", file=sys.stderr)


def _version() -> str:
    from seqtk import __version__

    return __version__


# --------------------------------------------------------------------------- verbs


def _cmd_run(args: argparse.Namespace) -> int:
    from seqtk.core.api import run

    result = run(
        args.recipe,
        args.overrides,
        resume=args.resume,
        overwrite=args.overwrite,
        progress=not args.quiet,
        host=args.host,
    )
    if _rank() != "0":
        return 0  # rank 0 reports the run
    print(f"run directory: {result.run_dir}")
    for name, value in result.metrics.items():
        before = result.initial_metrics.get(name)
        was = f" (untrained: {before:.4g})" if before is not None else ""
        print(f"  {name}: {value:.4g}{was}")
    if result.best is not None:
        best = result.best
        print(f"  best {best['metric']}: {best['value']:.4g} at step {best['step']} (checkpoints/{best['file']}; seqtk sample {result.run_dir} --best)")
    for text in result.warnings:  # the final evaluation's, repeated beside the numbers they are about
        print(f"  warning: {text}")
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from seqtk.core.api import validate

    recipe = validate(args.recipe, args.overrides, host=args.host)
    data = recipe.data
    sections = ("domain", "model") if recipe.uses_model else ("domain", "generator", "discriminator", "objective", "estimator")
    parts = ", ".join(f"{s} {getattr(data, s).name}" for s in sections)
    print(f"{args.recipe}: valid ({parts})")
    if not recipe.uses_model:  # the one setting the adversarial loop reads, and where it came from (seqtk.core.phases)
        from seqtk.core.phases import declared_discriminator_steps

        steps = declared_discriminator_steps(recipe, args.host.registry)
        print(f"discriminator updates per adversarial step: {steps.count} ({steps.source})")
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    registry = args.host.registry
    kinds = [args.kind] if args.kind else [*KINDS, "presets"]
    for kind in kinds:
        print(kind)
        if kind == "presets":
            rows = [
                (p.name, " + ".join(p.parts[part]["name"] for part in p.parts) + (f": {p.summary}" if p.summary else ""), p.plugin)
                for p in registry.presets()
            ]
        else:
            rows = [(e.name, e.summary + _capabilities(e), e.plugin) for e in registry.entries(kind)]
        if not rows:
            print("  (none)")
        width = max((len(name) for name, _, _ in rows), default=0)
        for name, text, plugin in rows:
            origin = "" if plugin == "builtin" else f" [plugin {plugin}]"
            print(f"  {name:<{width}}  {text}{origin}")
    return 0


def _capabilities(entry) -> str:  # type: ignore[no-untyped-def]
    words = []
    if entry.requires:
        words.append("requires " + ", ".join(sorted(entry.requires)))
    if entry.provides:
        words.append("provides " + ", ".join(sorted(entry.provides)))
    for key, table in entry.provides_by_param.items():
        words.append("; ".join(f"{', '.join(sorted(w))} when {key}={value}" for value, w in table.items()))
    return f" ({'; '.join(words)})" if words else ""


def _cmd_plugins(args: argparse.Namespace) -> int:
    """List plugins, importing every registered target so a broken one shows as failed (lazy loading hides it elsewhere)."""
    host = args.host
    problems = host.check_targets()
    for info in host.infos:
        origin = f"{info.distribution} {info.version}" if info.distribution else info.module
        print(f"{info.name}: {origin} [{info.status}]")
        if info.hooks:
            print(f"  hooks: {', '.join(info.hooks)}")
        label = "error" if info.status == "failed" else "note"
        for line in (info.error or "").splitlines():
            print(f"  {label}: {line}")
    named = {info.name for info in host.infos}
    for problem in problems:
        if problem.plugin not in named:  # registered outside any plugin the host loaded
            print(f"error: {problem.message}")
    clashes = host.registry.clashes()
    for clash in clashes:
        print(f"clash: {clash.message}")
    if not args.check:
        return 0
    failed = [info.name for info in host.failures]
    if failed or problems or clashes:
        what = [f"{len(failed)} plugin(s) failed ({', '.join(failed)})"] if failed else []
        what += [f"{len(problems)} target(s) cannot be imported"] if problems else []
        what += [f"{len(clashes)} name(s) registered by two plugins"] if clashes else []
        print(f"seqtk plugins --check: {'; '.join(what)}", file=sys.stderr)
        return 1
    loaded = sum(info.status == "loaded" for info in host.infos)
    print(f"check passed: {loaded} plugin(s) loaded, {len(host.registry.all_entries())} target(s) imported")
    return 0


def _cmd_score(args: argparse.Namespace) -> int:
    import json

    from seqtk.core.atomic import atomic_write_text
    from seqtk.core.scoring import parse_params, score

    result = score(args.domain, args.real, args.samples, args.metric, parse_params(args.param), host=args.host)
    text = json.dumps(result, indent=2)
    if args.out is not None:
        atomic_write_text(args.out, text + "\n")
    print(text)
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from seqtk.core.compare import compare, render_table, to_json

    result = compare(args.run_dirs, metric=args.metric, host=args.host)
    print(to_json(result) if args.json else render_table(result))
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from seqtk.core.report import write_report

    out = args.out if args.out is not None else args.run_dirs[0] / "report.html"
    path = write_report(args.run_dirs, out, host=args.host, samples=max(1, args.samples))
    print(f"report: {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    from seqtk.core.sweep_run import run_command

    return run_command(args.sweep_file, as_json=args.json, host=args.host)


def _cmd_sample(args: argparse.Namespace) -> int:
    from seqtk.core.api import sample

    count = args.count if args.count is not None else (1 if args.conditions is not None else 100)
    paths = sample(args.run_dir, count, out_dir=args.out, seed=args.seed, host=args.host, best=args.best, step=args.step, label=args.label, conditions=args.conditions)
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
