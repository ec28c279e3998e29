"""Score a file of samples against real data with a domain's metrics (``seqtk score``).

Metrics are only comparable across papers and tools when the same code computes them
on the same data. This lets a user score samples from any model, seqtk's or not, with
exactly the metric code a seqtk run uses: the domain reads both files (it knows the
format and the tokenizer) and the registry builds the metrics.
"""

from __future__ import annotations

import inspect
import re
import time
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from seqtk.core.errors import DataError, RegistryError, SeqtkError, UnknownNameError
from seqtk.core.plugins import PluginHost
from seqtk.core.registry import Registry

__all__ = ["score", "parse_params", "resolve_metric_names", "scorable_metrics"]


def parse_params(items: Iterable[str]) -> dict[str, Any]:
    """``key=value`` strings (values read as YAML, like ``--set``) into a mapping."""
    params: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise SeqtkError(f"--param {item!r}: expected KEY=VALUE, for example --param tokenizer=char")
        try:
            params[key.strip()] = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as exc:
            raise SeqtkError(f"--param {item!r}: the value is not valid YAML ({exc})") from None
    return params


def score(
    domain_name: str,
    real: str | Path,
    samples: str | Path,
    metrics: Iterable[str] = (),
    params: Mapping[str, Any] | None = None,
    *,
    host: PluginHost | None = None,
) -> dict[str, Any]:
    """Score ``samples`` against ``real``; returns the metrics with the protocol beside them.

    With no ``metrics``, every default metric of the domain that does not need a
    generator is computed.
    """
    host = host or PluginHost()
    registry = host.registry
    domain_entry = registry.get("domains", domain_name)
    real, samples = Path(real), Path(samples)
    for label, path in (("--real", real), ("--samples", samples)):
        if not path.exists():
            raise SeqtkError(f"{label} {path}: no such file or directory")
    domain_class = domain_entry.load()
    provides = domain_entry.provides_for({})
    defaults: tuple[str, ...] = getattr(domain_class, "scoring_metrics", ()) or getattr(domain_class, "default_metrics", ())
    requested = list(metrics)
    if requested:
        names = resolve_metric_names(registry, requested, domain_class, provides)
    else:
        names = [name for name in defaults if not _needs_generator(registry.get("metrics", name))]
    entries = {name: registry.get("metrics", name) for name in names}
    for name, entry in entries.items():
        missing = sorted(entry.requires - provides)
        if missing:
            raise SeqtkError(f"metric {name!r} requires {', '.join(missing)}, which domain {domain_name!r} does not provide")
        if _needs_generator(entry):
            raise SeqtkError(f"metric {name!r} needs the run's generator, so it cannot score a file of samples; it is computed during 'seqtk run'")
    try:
        domain, real_batch, fake_batch = domain_class.scoring_data(real, samples, dict(params or {}))
    except NotImplementedError:
        raise SeqtkError(f"domain {domain_name!r} cannot read sample files for scoring") from None
    except (ValueError, TypeError) as exc:
        raise SeqtkError(f"seqtk score {domain_name}: {exc}") from None
    results: dict[str, float] = {}
    seconds: dict[str, float] = {}
    for name, entry in entries.items():
        try:
            metric = entry.build({"domain": domain, "spec": domain.spec, "generator": None}, {})
        except (ValueError, TypeError) as exc:
            raise SeqtkError(f"metric {name!r} cannot be built for domain {domain_name!r}: {exc}") from None
        start = time.perf_counter()
        try:
            results[name] = float(metric(real_batch, fake_batch))
        except ValueError as exc:  # a metric refusing these data (too few sequences, say): the files' fault, not a bug
            raise DataError(f"metric {name!r} cannot score {samples} against {real}: {exc}") from None
        seconds[name] = round(time.perf_counter() - start, 4)
    return {
        "metrics": results,
        "protocol": {
            "domain": domain_name,
            "params": dict(params or {}),
            "real": str(real),
            "real_sequences": real_batch.size,
            "samples": str(samples),
            "sample_sequences": fake_batch.size,
        },
        "seconds": seconds,
    }


def _needs_generator(entry: Any) -> bool:
    """True if the metric's constructor takes a ``generator`` (see ``Metric``: such a metric cannot score files).

    A default of None does not make the generator optional: ``nll-test`` declares one so
    that it can say why it needs the generator, and still cannot score without it.
    """
    return "generator" in inspect.signature(entry.load()).parameters


def scorable_metrics(registry: Registry, domain_class: type, provides: frozenset[str]) -> list[str]:
    """The metric names ``seqtk score`` can compute for a domain class that provides ``provides``.

    A metric counts when the domain provides all it ``requires``, it needs no generator
    (a file of samples has none) and its class says it ``applies_to`` the domain, so the
    list in an error names text metrics for text, never music or time-series ones.
    """
    names = []
    for entry in registry.entries("metrics"):
        if entry.requires - provides:
            continue
        try:
            if _needs_generator(entry):
                continue
            applies = getattr(entry.load(), "applies_to", None)
        except RegistryError:  # a plugin's metric that cannot be imported here cannot score anything either
            continue
        if applies is None or applies(domain_class, provides):
            names.append(entry.name)
    return names


def resolve_metric_names(registry: Registry, requested: Iterable[str], domain_class: type, provides: frozenset[str]) -> list[str]:
    """Registry metric names for ``--metric`` values, in order, each once.

    A registered name stands for itself. A family name (``bleu``, ``self-bleu``,
    ``distinct``) stands for every registered ``<family>-<order>`` metric that applies to
    the domain, by increasing order: ``bleu`` is bleu-2 .. bleu-5. Anything else is an
    unknown name, answered with the names (and families) that apply to this domain.
    """
    registered = set(registry.names("metrics"))
    applicable: list[str] | None = None
    names: list[str] = []
    for name in requested:
        if name in registered:
            found = [name]
        else:
            applicable = scorable_metrics(registry, domain_class, provides) if applicable is None else applicable
            found = family_members(name, applicable)
            if not found:
                try:
                    registry.get("metrics", name)
                except UnknownNameError as exc:
                    if type(exc) is not UnknownNameError:  # a subclass says more (two plugins registered the name)
                        raise
                raise UnknownNameError("metrics", name, [*applicable, *metric_families(applicable)])
        names += [n for n in found if n not in names]
    return names


_ORDERED = re.compile(r"^(?P<family>.+)-(?P<order>\d+)$")


def family_members(family: str, names: Iterable[str]) -> list[str]:
    """``<family>-<order>`` names among ``names``, by increasing order (empty when none)."""
    members = [(int(m["order"]), n) for n in names if (m := _ORDERED.match(n)) and m["family"] == family]
    return [n for _, n in sorted(members)]


def metric_families(names: Iterable[str]) -> list[str]:
    """Family names (``bleu`` for bleu-2 .. bleu-5) of the ordered names among ``names``."""
    return sorted({m["family"] for n in names if (m := _ORDERED.match(n))})
