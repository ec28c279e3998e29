"""The report page: plain HTML with its pictures, sounds, styles and one small script inline.

Self-contained by construction: every picture and sound is a ``data:`` URI, and the page's
Content-Security-Policy forbids loading anything else, so a report opened from an e-mail
or an archive shows everything and fetches nothing.

The inline script changes nothing on screen. It records what a browser test needs in the
``data-seqtk-check`` attribute of ``<html>``: errors (script errors, failed resources,
policy violations, ``console.error``/``console.warn``), how many images there are and how
many decoded, and each ``<audio>`` element's duration once known, then ``done: true``.
``tests/test_report_browser.py`` reads it back from Chromium's ``--dump-dom``.
"""

from __future__ import annotations

import base64
import html
import math
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from seqtk.core.report_items import Audio, Note, Picture, Table

if TYPE_CHECKING:  # pragma: no cover
    from seqtk.core.report import RunView

__all__ = ["render_page", "page", "CHECK_SCRIPT", "POLICY"]

#: Nothing but inline styles and scripts and data: pictures and sounds may load.
POLICY = "default-src 'none'; img-src data:; media-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"

#: matplotlib's tab10, so a run's colour on the page matches its curves.
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")

CHECK_SCRIPT = """
(function () {
  var state = {errors: [], images: 0, decoded: 0, svgs: 0, audio: [], done: false};
  function save() { document.documentElement.setAttribute('data-seqtk-check', JSON.stringify(state)); }
  window.addEventListener('error', function (e) {
    var t = e.target;
    if (t && t !== window && t.tagName) {
      state.errors.push('failed resource: <' + t.tagName.toLowerCase() + '> ' + String(t.currentSrc || t.src || '').slice(0, 60));
    } else {
      state.errors.push('script error: ' + e.message);
    }
    save();
  }, true);
  window.addEventListener('unhandledrejection', function (e) { state.errors.push('unhandled rejection: ' + e.reason); save(); });
  document.addEventListener('securitypolicyviolation', function (e) { state.errors.push('blocked by the page policy: ' + e.blockedURI); save(); });
  ['error', 'warn'].forEach(function (level) {
    var original = console[level];
    console[level] = function () {
      state.errors.push('console.' + level + ': ' + Array.prototype.join.call(arguments, ' '));
      save();
      return original.apply(console, arguments);
    };
  });
  window.addEventListener('load', function () {
    var images = document.images;
    state.images = images.length;
    state.decoded = Array.prototype.filter.call(images, function (i) { return i.complete && i.naturalWidth > 0; }).length;
    state.svgs = document.querySelectorAll('svg').length;
    var players = document.querySelectorAll('audio'), pending = players.length;
    function finish() { pending -= 1; if (pending <= 0) { state.done = true; } save(); }
    Array.prototype.forEach.call(players, function (a, k) {
      state.audio[k] = null;
      function take() { state.audio[k] = a.duration; finish(); }
      if (a.readyState >= 1) { take(); return; }
      a.addEventListener('loadedmetadata', take, {once: true});
      a.addEventListener('error', function () { state.errors.push('audio ' + k + ' cannot be decoded'); finish(); }, {once: true});
    });
    if (!players.length) { state.done = true; }
    save();
  });
})();
"""

STYLE = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d1d1f; max-width: 1150px; margin: 0 auto; padding: 1em 1.5em 4em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 2em; } h3 { margin-top: 1.4em; }
.muted { color: #666; font-size: 0.9em; }
.status { border-left: 4px solid #2ca02c; background: #f2f9f2; padding: 0.5em 0.8em; margin: 0.4em 0; }
.status.partial { border-color: #e69500; background: #fff7e6; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.92em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f5f5f7; } td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.swatch { display: inline-block; width: 0.9em; height: 0.9em; border-radius: 2px; margin-right: 0.4em; vertical-align: -0.1em; }
img { max-width: 100%; height: auto; border: 1px solid #eee; }
pre { background: #f7f7f9; border: 1px solid #e5e5e5; padding: 0.7em; overflow-x: auto; font-size: 0.85em; }
figure { margin: 1em 0; } figcaption { font-weight: 600; margin-bottom: 0.3em; }
.sounds { display: grid; grid-template-columns: repeat(auto-fill, minmax(320px, 1fr)); gap: 0.6em 1.2em; }
.sound { font-size: 0.9em; } .sound audio { width: 100%; height: 2.2em; }
"""


def render_page(views: Sequence["RunView"], now: Mapping[str, Any]) -> str:
    """The whole report for ``views``; ``now`` describes the environment the report was made in."""
    from seqtk.core.report_plots import curves_png

    colours = [COLOURS[i % len(COLOURS)] for i in range(len(views))]
    body: list[str] = [f"<h1>seqtk report: {_e(', '.join(v.label for v in views))}</h1>"]
    made = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    body.append(f'<p class="muted">Made {made} by seqtk {_e(now.get("seqtk"))}, from {len(views)} run director{"y" if len(views) == 1 else "ies"}.</p>')
    body.append(_runs_table(views, colours))
    body.append("<h2>Losses</h2>")
    body.append(_curves(curves_png(views, "training", colours), "Losses and other values logged during training, over steps", "No training step has been logged yet."))
    body.append("<h2>Metrics over steps</h2>")
    body.append(_curves(curves_png(views, "evaluations", colours), "Every evaluated metric, over steps (step 0: the untrained generator)", "No evaluation has been logged yet."))
    body.append("<h2>Final metrics</h2>")
    body.append(_final_table(views))
    for view, colour in zip(views, colours):
        body.append(f'<h2><span class="swatch" style="background:{colour}"></span>Samples: {_e(view.label)}</h2>')
        body.append(items_html(view.samples))
    for view, colour in zip(views, colours):
        body.append(f'<h2><span class="swatch" style="background:{colour}"></span>Recipe and environment: {_e(view.label)}</h2>')
        body.append(_environment(view, now))
        body.append(f"<h3>Resolved recipe (<code>{_e(view.run_dir / 'recipe.yaml')}</code>)</h3>")
        body.append(f"<details><summary>show the recipe</summary><pre>{_e(view.recipe_text)}</pre></details>" if view.recipe_text else "<p>This run directory holds no recipe.yaml.</p>")
    return page("seqtk report: " + ", ".join(v.label for v in views), "\n".join(body))


def page(title: str, body: str) -> str:
    """A complete HTML document around ``body``, with the policy, the styles and the check script."""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f'<meta http-equiv="Content-Security-Policy" content="{POLICY}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(title)}</title>\n<script>{CHECK_SCRIPT}</script>\n<style>{STYLE}</style>\n</head>\n"
        f"<body>\n{body}\n</body>\n</html>\n"
    )


def items_html(items: Iterable[Any]) -> str:
    """Domains' report items as HTML, in their order; consecutive sounds share one grid."""
    out: list[str] = []
    sounds: list[str] = []

    def flush() -> None:
        if sounds:
            out.append('<div class="sounds">' + "".join(sounds) + "</div>")
            sounds.clear()

    for item in items:
        if isinstance(item, Audio):
            note = f' <span class="muted">{_e(item.note)}</span>' if item.note else ""
            sounds.append(f'<div class="sound"><div>{_e(item.title)}{note}</div><audio controls preload="auto" src="{_data_uri(item.mime, item.data)}"></audio></div>')
            continue
        flush()
        if isinstance(item, Picture):
            note = f'<div class="muted">{_e(item.note)}</div>' if item.note else ""
            out.append(f'<figure><figcaption>{_e(item.title)}</figcaption><img alt="{_e(item.title)}" src="{_data_uri(item.mime, item.data)}">{note}</figure>')
        elif isinstance(item, Table):
            out.append(f"<h3>{_e(item.title)}</h3>" + _table(item.columns, item.rows) + (f'<p class="muted">{_e(item.note)}</p>' if item.note else ""))
        elif isinstance(item, Note):
            out.append(f"<p>{_e(item.text)}</p>")
        else:
            out.append(f"<p>(an item of unknown kind {_e(type(item).__name__)} was left out)</p>")
    flush()
    return "\n".join(out) if out else "<p>The domain shows no samples.</p>"


def _runs_table(views: Sequence["RunView"], colours: Sequence[str]) -> str:
    rows = []
    for view, colour in zip(views, colours):
        css = "status" if view.finished else "status partial"
        status = view.status()
        if view.unreadable_lines:
            status += f"; {view.unreadable_lines} line(s) of metrics.jsonl could not be read (cut short by a kill?) and are left out"
        rows.append(
            f'<tr><td><span class="swatch" style="background:{colour}"></span>{_e(view.label)}</td>'
            f"<td><code>{_e(view.run_dir)}</code></td><td><div class=\"{css}\">{_e(status)}</div></td></tr>"
        )
    return "<table><tr><th>run</th><th>directory</th><th>status</th></tr>" + "".join(rows) + "</table>"


def _curves(png: bytes | None, title: str, empty: str) -> str:
    if png is None:
        return f"<p>{_e(empty)}</p>"
    return f'<figure><img alt="{_e(title)}" src="{_data_uri("image/png", png)}"><div class="muted">{_e(title)}.</div></figure>'


def _final_table(views: Sequence["RunView"]) -> str:
    columns: list[str] = ["metric"]
    values: list[tuple[dict[str, float], dict[str, float]]] = []
    for view in views:
        step, final = view.final_metrics()
        initial = view.initial_metrics()
        prefix = f"{view.label}: " if len(views) > 1 else ""
        word = "final" if view.finished else "newest"
        columns += [f"{prefix}untrained (step 0)", f"{prefix}{word} (step {step if step is not None else '-'})"]
        values.append((initial, final))
    names: list[str] = []
    for initial, final in values:
        for name in [*initial, *final]:
            if name not in names:
                names.append(name)
    if not names:
        return "<p>No evaluation has been logged yet.</p>"
    rows = [[name, *[v for initial, final in values for v in (initial.get(name), final.get(name))]] for name in names]
    note = '<p class="muted">Step 0 is the evaluation before any training; d_acc_* and d_auc are the discriminator\'s view of held-out data.</p>'
    return _table(columns, rows) + note


def _environment(view: "RunView", now: Mapping[str, Any]) -> str:
    env = view.environment
    if env is None:
        intro = "<p>This run recorded no environment.json (it predates it); installed now, where this report was made:</p>"
        env = dict(now)
    else:
        when = "resumed" if env.get("resumed") else "started"
        intro = f"<p>Recorded when the run {when} ({_e(env.get('started_utc', '?'))}):</p>"
    rows = [(key, env[key]) for key in ("seqtk", "torch", "python", "device", "device_name", "platform") if key in env]
    plugins = env.get("plugins") or []
    plugin_rows = [(p.get("name"), p.get("package"), p.get("version") or "-", p.get("status")) for p in plugins if isinstance(p, dict)]
    text = intro + _table(("", ""), rows, header=False)
    if plugin_rows:
        text += "<h3>Plugins</h3>" + _table(("plugin", "package", "version", "status"), plugin_rows)
    return text


def _table(columns: Sequence[str], rows: Iterable[Sequence[Any]], *, header: bool = True) -> str:
    head = "<tr>" + "".join(f"<th>{_e(c)}</th>" for c in columns) + "</tr>" if header else ""
    body = "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in rows)
    return f"<table>{head}{body}</table>"


def _cell(value: Any) -> str:
    if value is None:
        return '<td class="num">-</td>'
    if isinstance(value, bool):
        return f"<td>{value}</td>"
    if isinstance(value, (int, float)):
        return f'<td class="num">{_format(float(value)) if isinstance(value, float) else value}</td>'
    return f"<td>{_e(value)}</td>"


def _format(value: float) -> str:
    if not math.isfinite(value):
        return str(value)
    return f"{value:.4g}"


def _data_uri(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)
