"""The tour's report: one index.html (and the same as README.md) over every lesson's result.json.

Each lesson's section starts with what a reader came for: its point in one sentence, whether the
point showed at this run's budget (and the numbers that say so), how long each model trained,
and the lesson's key figure. Then its numbers (with a note where a longer budget reaches more),
and what it recorded, in order: text (several lines kept as they are: traces, samples), tables
(scrolling sideways when wide), figures and graphs (a click opens the full-size picture).
"""
from __future__ import annotations

import html
import time
from pathlib import Path

from .report import check_budget, columns, fmt, markdown_table

STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;line-height:1.45;color:#222}
h2{margin-top:2.5em;border-bottom:2px solid #ddd;padding-bottom:.2em}
img{max-width:100%;height:auto;border:1px solid #ddd;background:#fff}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;margin:.8em 0;font-size:92%}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}
caption{text-align:left;font-style:italic;color:#555;padding-bottom:.3em}
.err{color:#b00}.ok{color:#070}
pre{background:#f6f6f6;padding:.6em .8em;overflow-x:auto;font-size:85%;line-height:1.35;white-space:pre-wrap}
figure{margin:1.2em 0}figcaption{color:#555;font-size:90%}
.point{background:#f3f7ff;border-left:4px solid #4a7bd0;padding:.6em 1em;margin:1em 0}
.point p{margin:.3em 0}.point .lead{font-size:112%;font-weight:600}
.note{color:#666;font-size:90%}
"""


def _image_paths(lesson_dir: str, item: dict, out_root: Path) -> tuple[str, str, bool]:
    """(what to show, what a click opens: the SVG version where there is one, whether the file exists)."""
    src = f"{lesson_dir}/{item['path']}"
    full = src[:-4] + ".svg" if src.endswith(".png") else src
    if not (out_root / full).is_file():
        full = src
    return src, full, (out_root / src).is_file()


def _caption(item: dict) -> str:
    return item.get("caption") or item.get("name", "").replace("_", " ")


def _table_html(rows: list[dict], caption: str = "") -> str:
    if not rows:
        return ""
    cols = columns(rows)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(fmt(r.get(c, '')))}</td>" for c in cols) + "</tr>"
                   for r in rows)
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return f"<div class='scroll'><table>{cap}<tr>{head}</tr>{body}</table></div>"


def _text_html(text: str) -> str:
    if "\n" in text:   # a trace or a sample: its line breaks are the point
        return f"<pre>{html.escape(text)}</pre>"
    return f"<p>{html.escape(text)}</p>"


def _item_html(lesson_dir: str, item: dict, out_root: Path) -> str:
    kind = item.get("kind")
    name = item.get("name", "")
    if kind in ("figure", "graph"):
        src, full, exists = _image_paths(lesson_dir, item, out_root)
        if not exists:
            return f"<p class='err'>missing {kind} file: {html.escape(src)}</p>"
        if src.endswith(".dot"):
            return (f"<p>graph <b>{html.escape(name)}</b>: DOT source <a href='{html.escape(src)}'>{html.escape(src)}</a> "
                    "(the Graphviz <code>dot</code> program was missing; install it to see the picture: "
                    "<code>apt-get install graphviz</code> or <code>brew install graphviz</code>)</p>")
        img = f"<img src='{html.escape(src)}' alt='{html.escape(_caption(item))}'>"
        return (f"<figure><a href='{html.escape(full)}' title='open the full-size picture'>{img}</a>"
                f"<figcaption>{html.escape(_caption(item))} <span class='note'>(click to enlarge)</span>"
                f"</figcaption></figure>")
    if kind == "table":
        return _table_html(item.get("rows") or [], item.get("caption", ""))
    if kind == "text":
        return _text_html(item["text"])
    return ""


def _item_markdown(lesson_dir: str, item: dict, out_root: Path) -> str:
    kind = item.get("kind")
    if kind in ("figure", "graph"):
        src, full, exists = _image_paths(lesson_dir, item, out_root)
        if not exists:
            return f"\n**missing {kind} file:** `{src}`\n"
        if src.endswith(".dot"):
            return f"\ngraph `{item.get('name', '')}`: DOT source [{src}]({src}) (install Graphviz's `dot` to draw it)\n"
        return f"\n[![{_caption(item)}]({src})]({full})\n\n*{_caption(item)}*\n"
    if kind == "table":
        md = markdown_table(item.get("rows") or [])
        return ("\n" + item["caption"] + "\n" if item.get("caption") else "") + "\n" + md + "\n"
    if kind == "text":
        text = item["text"]
        return f"\n```\n{text}\n```\n" if "\n" in text else "\n" + text + "\n"
    return ""


def _verdict(r: dict) -> tuple[str, str]:
    """(a word for the overview, a sentence for the section)."""
    v = r.get("verdict")
    if r.get("error"):
        return "failed", ""
    if not v:
        return "", ""
    budget = r.get("budget", "")
    if v["shown"]:
        return "yes", f"Shown at the {budget} budget: {v['evidence']}"
    return "no", f"Not shown at the {budget} budget: {v['evidence']}"


def _training_line(r: dict) -> str:
    runs = r.get("training") or []
    return "; ".join(f"{t['model']} {t['steps']:,} steps in {t['seconds']:g} s" for t in runs)


def _metric_rows(r: dict) -> list[dict]:
    notes = r.get("notes") or {}
    rows = []
    for k, v in r["metrics"].items():
        row = {"result": k, "value": v}
        if notes:
            row["note"] = notes.get(k, "")
        rows.append(row)
    return rows


def _section(r: dict, out_root: Path) -> tuple[str, str]:
    """One lesson's section, as HTML and as Markdown."""
    title = r.get("title", r["dir"])
    parts = [f"<h2 id='{r['dir']}'>{html.escape(title)}</h2>"]
    md = [f"\n## {title}\n"]
    if r.get("error"):
        parts.append(f"<p class='err'><b>This lesson failed:</b> {html.escape(r['error'])}</p>"
                     f"<details><summary>traceback</summary><pre>{html.escape(r.get('traceback', ''))}</pre>"
                     f"</details>")
        md.append(f"**This lesson failed:** `{r['error']}` (see [{r['dir']}/{r['log']}]({r['dir']}/{r['log']}))\n")
    _, verdict = _verdict(r)
    training = _training_line(r)
    if r.get("point") or verdict or training:
        box = [f"<p class='lead'>{html.escape(r['point'])}</p>" if r.get("point") else ""]
        cls = "ok" if (r.get("verdict") or {}).get("shown") else "err"
        box.append(f"<p class='{cls}'>{html.escape(verdict)}</p>" if verdict else "")
        box.append(f"<p class='note'>Training: {html.escape(training)}.</p>" if training else "")
        parts.append("<div class='point'>" + "".join(box) + "</div>")
        md += [f"**{r['point']}**\n" if r.get("point") else "", f"{verdict}\n" if verdict else "",
               f"Training: {training}.\n" if training else ""]
    if r.get("claims"):
        parts.append(_table_html(r["claims"], "The lecture's claims in this lesson, over seeds"))
        md.append("\n" + markdown_table(r["claims"]) + "\n")
    items = r.get("items", [])
    key = [i for i in items if i.get("key")]
    for item in key:
        parts.append(_item_html(r["dir"], item, out_root))
        md.append(_item_markdown(r["dir"], item, out_root))
    if r.get("metrics"):
        rows = _metric_rows(r)
        parts.append(_table_html(rows, "Numbers of this run"))
        md.append("\n" + markdown_table(rows) + "\n")
    for item in items:
        if not item.get("key"):
            parts.append(_item_html(r["dir"], item, out_root))
            md.append(_item_markdown(r["dir"], item, out_root))
    parts.append(f"<p class='note'>{r['seconds']} s; what the lesson printed: "
                 f"<a href='{r['dir']}/{r['log']}'>{r['dir']}/{r['log']}</a></p>")
    return "\n".join(parts), "\n".join(md)


def claims_table(results: list[dict]) -> list[dict]:
    """Every lesson's claims, one row each: the lecture's claims as this run measured them."""
    return [{"lesson": int(r["dir"][:2]) if r["dir"][:2].isdigit() else r["dir"], **c}
            for r in results for c in r.get("claims") or []]


def _head(title: str, base: str = "") -> str:
    base = f"<base href='{base}'>" if base else ""
    return (f"<!doctype html><html><head><meta charset='utf-8'>{base}"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body>")


def section_page(result: dict, out_root: Path) -> str:
    """One lesson's section as a page of its own, to sit in the lesson's folder (its links are the
    report's, resolved from the folder above): what the preview screenshot shows."""
    section, _ = _section(result, Path(out_root))
    return _head(result.get("title", result["dir"]), base="../") + section + "</body></html>"


def write_report(results: list[dict], out_root: Path, budget: str, data: str | None = None,
                 threads: int | None = None) -> tuple[Path, Path]:
    """index.html and README.md over every lesson's results."""
    check_budget(budget)
    out_root = Path(out_root)
    failed = [r for r in results if r.get("error")]
    source = f"corpora from {data}" if data else "built-in data"
    thread_note = f", {threads} BLAS thread{'s' if threads != 1 else ''}" if threads else ""
    summary = (f"{len(results)} lesson{'s' if len(results) != 1 else ''}, {budget} mode, {source}{thread_note}, "
               f"{sum(r['seconds'] for r in results):.0f} s in all; "
               + (f"{len(failed)} failed." if failed else "all ran."))
    overview = [{"lesson": r.get("title", r["dir"]), "status": "FAILED" if r.get("error") else "ok",
                 "point shown": _verdict(r)[0], "seconds": r["seconds"],
                 "figures": sum(i.get("kind") == "figure" for i in r.get("items", [])),
                 "graphs": sum(i.get("kind") == "graph" for i in r.get("items", []))} for r in results]

    parts = [_head("minigrad tour"), f"<h1>minigrad tour</h1><p>{html.escape(summary)} "
             f"Run {time.strftime('%Y-%m-%d %H:%M')}.</p>",
             "<div class='scroll'><table><tr><th>lesson</th><th>status</th><th>point shown</th><th>seconds</th>"
             "<th>figures</th><th>graphs</th></tr>"]
    for r, o in zip(results, overview):
        cls = "err" if r.get("error") else "ok"
        parts.append(f"<tr><td><a href='#{r['dir']}'>{html.escape(o['lesson'])}</a></td>"
                     f"<td class='{cls}'>{o['status']}</td><td>{o['point shown']}</td><td>{o['seconds']}</td>"
                     f"<td>{o['figures']}</td><td>{o['graphs']}</td></tr>")
    parts.append("</table></div>")
    md = [f"# minigrad tour\n\n{summary}\n\n{markdown_table(overview)}\n"]
    claims = claims_table(results)
    if claims:
        intro = (f"Each claim is judged over seeds at this run's budget: reproduced when the 95% interval of "
                 f"the difference lies on the claim's side, else not shown at this budget ({budget} mode; "
                 f"--full runs more seeds and longer).")
        # h3: the h2s are the lessons' sections (the browser check counts them)
        parts.append(f"<h3 id='claims'>Claims of the lecture</h3><p>{html.escape(intro)}</p>"
                     + _table_html(claims))
        md.append(f"\n## Claims of the lecture\n\n{intro}\n\n{markdown_table(claims)}\n")
    for r in results:
        section_html, section_md = _section(r, out_root)
        parts.append(section_html)
        md.append(section_md)
    parts.append("</body></html>")
    index = out_root / "index.html"
    index.write_text("\n".join(parts), encoding="utf-8")
    readme = out_root / "README.md"
    readme.write_text("\n".join(md), encoding="utf-8")
    return index, readme
