"""A browsable page for ``/openapi.json`` that works offline: a small hand-written renderer
(no CDN, no vendored bundle), listing every path, method, its scope, parameters, request
body and responses, with the component schemas shown as JSON and linked by ``$ref``.
The text is built with ``textContent`` only, so nothing in the document is parsed as HTML.
"""

from __future__ import annotations

__all__ = ["PAGE"]

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Renkei API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:0 auto;max-width:72em;padding:1em}
h2{border-bottom:1px solid #ccc;margin-top:2em} details{margin:.3em 0;border:1px solid #ddd;
border-radius:4px;padding:.3em .6em} summary{cursor:pointer} code,pre{font:12px monospace}
pre{background:#f6f6f6;padding:.5em;overflow:auto} .m{display:inline-block;width:5em;
font-weight:bold} .get{color:#06c}.post{color:#080}.put{color:#a60}.patch{color:#a0a}
.delete{color:#c00} .need{color:#666;float:right} table{border-collapse:collapse}
td,th{border:1px solid #ddd;padding:2px 6px;text-align:left} #filter{width:100%;padding:.4em}
</style></head><body>
<h1 id="title">Renkei API</h1><p id="desc"></p>
<p><a href="/openapi.json">/openapi.json</a></p>
<input id="filter" placeholder="filter paths, e.g. entities or registry">
<div id="paths"></div><h2>Schemas</h2><div id="schemas"></div>
<script>
"use strict";
function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}
function refLink(schema) {
  if (schema && schema.$ref) {
    const name = schema.$ref.split("/").pop();
    const a = el("a", name); a.href = "#schema-" + name; return a;
  }
  return el("code", JSON.stringify(schema || {}));
}
function params(list) {
  const t = el("table");
  const h = el("tr");
  ["name", "in", "required", "schema", "description"].forEach(c => h.append(el("th", c)));
  t.append(h);
  list.forEach(p => {
    const r = el("tr");
    r.append(el("td", p.name), el("td", p.in), el("td", p.required ? "yes" : ""));
    const s = el("td"); s.append(refLink(p.schema)); r.append(s, el("td", p.description || ""));
    t.append(r);
  });
  return t;
}
function operation(path, method, op, shared) {
  const d = el("details"); d.dataset.path = path;
  const s = el("summary");
  s.append(el("span", method.toUpperCase(), "m " + method), el("code", path), " ",
           el("span", op.summary || ""), el("span", op["x-renkei-need"] || "", "need"));
  d.append(s);
  const ps = [...(shared || []), ...(op.parameters || [])];
  if (ps.length) { d.append(el("h4", "Parameters"), params(ps)); }
  if (op.requestBody) {
    d.append(el("h4", "Request body"));
    Object.entries(op.requestBody.content).forEach(([media, c]) => {
      const p = el("p"); p.append(el("code", media), " ", refLink(c.schema)); d.append(p);
    });
  }
  d.append(el("h4", "Responses"));
  Object.entries(op.responses).forEach(([code, r]) => {
    const p = el("p"); p.append(el("b", code), " " + (r.description || "") + " ");
    Object.entries(r.content || {}).forEach(([media, c]) => {
      p.append(el("code", media), " ", refLink(c.schema), " ");
    });
    d.append(p);
  });
  return d;
}
function render(doc) {
  document.getElementById("title").textContent = doc.info.title + " " + doc.info.version;
  document.getElementById("desc").textContent = doc.info.description || "";
  const box = document.getElementById("paths");
  let group = null;
  Object.entries(doc.paths).forEach(([path, item]) => {
    const head = path.split("/").slice(0, 3).join("/");
    if (head !== group) { group = head; box.append(el("h2", head)); }
    Object.entries(item).forEach(([method, op]) => {
      if (method !== "parameters") box.append(operation(path, method, op, item.parameters));
    });
  });
  const schemas = document.getElementById("schemas");
  Object.entries(doc.components.schemas).forEach(([name, schema]) => {
    const d = el("details"); d.id = "schema-" + name;
    d.append(el("summary", name), el("pre", JSON.stringify(schema, null, 2)));
    schemas.append(d);
  });
}
document.getElementById("filter").addEventListener("input", ev => {
  const f = ev.target.value.toLowerCase();
  document.querySelectorAll("#paths details").forEach(d => {
    d.style.display = d.dataset.path.toLowerCase().includes(f) ? "" : "none";
  });
});
fetch("/openapi.json").then(r => r.json()).then(render).catch(e => {
  document.getElementById("paths").append(el("p", "could not load /openapi.json: " + e));
});
</script></body></html>
"""
