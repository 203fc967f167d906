"""Graph renderers: DOT, Mermaid, JSON-ready dicts and a text tree. Pure."""

from __future__ import annotations

import json


def _q(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _node_name(kind: str, node_id: str) -> str:
    return f"{kind}_{node_id}".replace("#", "_").replace("-", "_").replace(":", "_")


def _label(kind: str, node_id: str, attrs: dict) -> str:
    if kind == "data":
        gone = "\n(dropped by gc)" if attrs.get("dropped") else ""
        return f"data {node_id}\n" + "\n".join(attrs.get("tags", [])) + gone
    if kind == "run":
        plan = attrs.get("plan_id", "")
        return f"run {node_id}\n{'upload' if plan == 'knit#uploaded' else 'plan ' + plan}\n{attrs.get('status', '')}"
    if kind == "plan":
        return f"plan {node_id}\n{attrs.get('image') or ''}"
    return f"{kind} {node_id}"


def to_dot(graph: dict, name: str = "lineage") -> str:
    shapes = {"data": "box", "run": "ellipse", "plan": "component"}
    lines = [f"digraph {name} {{", "  rankdir=LR;"]
    root = graph.get("root")
    for n in graph["nodes"]:
        extra = ", penwidth=2" if root and root["kind"] == n["kind"] and root["id"] == n["id"] else ""
        if n.get("bad"):  # marked bad (knitctl.marks)
            extra += ', style=filled, fillcolor="#f8d0d0", color="#c00000"'
        if n.get("dropped"):  # bytes freed by gc; the metadata stays
            extra += ', style="dashed' + (',filled"' if n.get("bad") else '"')
        lines.append(f"  {_node_name(n['kind'], n['id'])} [shape={shapes.get(n['kind'], 'box')}, label={_q(_label(n['kind'], n['id'], n))}{extra}];")
    for e in graph["edges"]:
        a, b = e["from"], e["to"]
        lbl = f" [label={_q(e['path'])}]" if e.get("path") else ""
        lines.append(f"  {_node_name(a['kind'], a['id'])} -> {_node_name(b['kind'], b['id'])}{lbl};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _mq(s: str) -> str:
    return '"' + s.replace('"', "#quot;").replace("\n", "<br/>") + '"'


def to_mermaid(graph: dict) -> str:
    open_close = {"data": ("[", "]"), "run": ("([", "])"), "plan": ("[[", "]]")}
    lines = ["flowchart LR"]
    for n in graph["nodes"]:
        o, c = open_close.get(n["kind"], ("[", "]"))
        lines.append(f"  {_node_name(n['kind'], n['id'])}{o}{_mq(_label(n['kind'], n['id'], n))}{c}")
        if n.get("bad"):
            lines.append(f"  style {_node_name(n['kind'], n['id'])} fill:#f8d0d0,stroke:#c00000")
        if n.get("dropped"):
            lines.append(f"  style {_node_name(n['kind'], n['id'])} stroke-dasharray: 5 5")
    for e in graph["edges"]:
        a, b = e["from"], e["to"]
        lbl = f"|{_mq(e['path'])}|" if e.get("path") else ""
        lines.append(f"  {_node_name(a['kind'], a['id'])} -->{lbl} {_node_name(b['kind'], b['id'])}")
    return "\n".join(lines) + "\n"


def to_json(graph: dict) -> str:
    return json.dumps(graph, indent=2) + "\n"


def to_tree(graph: dict) -> str:
    """Upstream tree from the root (what it came from), then downstream (what came of it)."""
    nodes = {(n["kind"], n["id"]): n for n in graph["nodes"]}
    parents: dict = {}
    children: dict = {}
    for e in graph["edges"]:
        a, b = (e["from"]["kind"], e["from"]["id"]), (e["to"]["kind"], e["to"]["id"])
        parents.setdefault(b, []).append((a, e.get("path", "")))
        children.setdefault(a, []).append((b, e.get("path", "")))
    root = (graph["root"]["kind"], graph["root"]["id"])
    out = [_one_line(root, nodes.get(root, {}))]

    def rec(node, links, arrow, prefix, expanded):
        items = sorted(links.get(node, []), key=lambda x: x[0])
        for i, (nxt, path) in enumerate(items):
            last = i == len(items) - 1
            branch = "└── " if last else "├── "
            at = f" [{path}]" if path else ""
            again = nxt in expanded and links.get(nxt)
            out.append(f"{prefix}{branch}{arrow} {_one_line(nxt, nodes.get(nxt, {}))}{at}{' (shown above)' if again else ''}")
            if not again:
                expanded.add(nxt)  # a DAG: expand each node once, refer back after
                rec(nxt, links, arrow, prefix + ("    " if last else "│   "), expanded)

    if parents.get(root):
        out.append("upstream:")
        rec(root, parents, "←", "", {root})
    if children.get(root):
        out.append("downstream:")
        rec(root, children, "→", "", {root})
    return "\n".join(out) + "\n"


def _one_line(node, attrs: dict) -> str:
    kind, node_id = node
    if kind == "data":
        mark = ("BAD " if attrs.get("bad") else "") + ("(dropped) " if attrs.get("dropped") else "")
        return f"data {node_id} {mark}" + " ".join(t for t in attrs.get("tags", []) if not t.startswith("knit#timestamp"))
    if kind == "run":
        plan = attrs.get("plan_id", "")
        what = "upload" if plan == "knit#uploaded" else f"plan {plan} ({attrs.get('image') or ''})"
        return f"run {node_id} {what} {attrs.get('status', '')}"
    return f"{kind} {node_id}"
