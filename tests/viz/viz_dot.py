"""Read back the DOT source that draw_graph writes: nodes, edges, their attributes, clusters."""
import re

_ATTR = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|[^\s\]]+)')
_EDGE = re.compile(r'^\s*("?[\w.]+"?) -> ("?[\w.]+"?)(?: \[(.*)\])?\s*$')
_NODE = re.compile(r'^\s*("?[\w.]+"?)(?: \[(.*)\])?\s*$')
_KEYWORDS = {"graph", "node", "edge", "digraph", "subgraph", "label", "labelloc"}


def _attrs(text):
    out = {}
    for key, value in _ATTR.findall(text or ""):
        if value.startswith('"'):
            value = value[1:-1].replace('\\"', '"')
        out[key] = value
    return out


def parse(source: str):
    """(nodes, edges, clusters): {id: attrs}, [(src, dst, attrs)], {cluster name: [node ids]}."""
    nodes, edges, clusters = {}, [], {}
    stack = []
    for line in source.splitlines():
        s = line.strip()
        m = re.match(r"^subgraph (\S+) \{$", s)
        if m:
            stack.append(m.group(1).strip('"'))
            clusters.setdefault(stack[-1], [])
            continue
        if s == "}":
            if stack:
                stack.pop()
            continue
        m = _EDGE.match(line)
        if m:
            edges.append((m.group(1).strip('"'), m.group(2).strip('"'), _attrs(m.group(3))))
            continue
        m = _NODE.match(line)
        if m and m.group(1).strip('"') not in _KEYWORDS and m.group(2) is not None:
            key = m.group(1).strip('"')
            nodes[key] = _attrs(m.group(2))
            for name in stack:  # a node inside nested clusters belongs to all of them
                clusters[name].append(key)
    return nodes, edges, clusters


def label(attrs) -> str:
    """A node's label as the lines a reader sees."""
    return attrs.get("label", "").replace("\\n", "\n")


def by_label(nodes, first_line: str) -> str:
    """The id of the one node whose label starts with `first_line`."""
    found = [k for k, a in nodes.items() if label(a).split("\n")[0] == first_line]
    assert len(found) == 1, f"expected one node labelled {first_line!r}, found {found}"
    return found[0]
