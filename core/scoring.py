"""Score a file of samples against real data with a domain's metrics (``seqtk score``).

Metrics are only comparable across papers and tools when the same code computes them
on the same data. This lets a user score samples from any model, seqtk's or not, with
exactly the metric code a seqtk run uses: the domain reads both files (it knows the
format and the tokenizer) and the registry builds the metrics.
"""

from __future__ import annotations

import inspect
import time
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from seqtk.core.errors import SeqtkError
from seqtk.core.plugins import PluginHost

__all__ = ["score", "parse_params"]


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
    defaults: tuple[str, ...] = getattr(domain_class, "scoring_metrics", ()) or getattr(domain_class, "default_metrics", ())
    names = list(metrics) or [name for name in defaults if not _needs_generator(registry.get("metrics", name))]
    entries = {name: registry.get("metrics", name) for name in names}
    for name, entry in entries.items():
        missing = sorted(entry.requires - domain_entry.provides_for({}))
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
        results[name] = float(metric(real_batch, fake_batch))
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
    """True if the metric's constructor takes a ``generator`` it cannot do without."""
    parameter = inspect.signature(entry.load()).parameters.get("generator")
    return parameter is not None and parameter.default is inspect.Parameter.empty
