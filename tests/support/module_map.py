"""The project drawn as a house: modules are rooms, imports are stairs.

A module's floor is one above the highest floor it imports from, so a module that imports nothing of
ours is on floor 0. Modules that import each other, directly or round a loop, cannot be given floors
that way: those loops are the stairs that climb back up, and tests/test_layout.py keeps them out.

Run `python -m tests.support.module_map` for the map (the note of Step 9 shows it before and after).
"""

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("articles", "conclave")


def module_name(path):
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules():
    """Every module of the product (migrations are history, not rooms), by dotted name."""
    modules = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            modules[module_name(path)] = path
    return modules


def imported_names(path, name):
    """Dotted names a module imports, wherever the import statement stands (top or inside a function)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            yield base
            for alias in node.names:
                yield f"{base}.{alias.name}"


def import_graph():
    """{module: set of project modules it imports}. `from a import b` counts as importing a.b when
    a.b is a module of ours, else as importing a."""
    modules = project_modules()
    graph = {}
    for name, path in modules.items():
        targets = set()
        for imported in imported_names(path, name):
            while imported and imported not in modules:
                imported = imported.rpartition(".")[0]
            if imported and imported != name:
                targets.add(imported)
        graph[name] = targets
    # A package's __init__ is imported on the way to its modules; it is no stair of its own.
    for name, targets in graph.items():
        graph[name] = {t for t in targets if modules[t].name != "__init__.py" or t == name}
    return graph


def loops(graph):
    """Strongly connected groups of more than one module (Tarjan), each sorted."""
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    sys.setrecursionlimit(10_000)
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def floors(graph):
    """{module: floor}, a loop's members sharing the floor of the loop."""
    group_of = {}
    for group in loops(graph):
        for member in group:
            group_of[member] = tuple(group)
    floor = {}

    def height(node, seen=()):
        if node in floor:
            return floor[node]
        own = group_of.get(node, (node,))
        below = [t for member in own for t in graph[member] if t not in own]
        value = 1 + max((height(t) for t in below), default=-1)
        for member in own:
            floor[member] = value
        return value

    for node in graph:
        height(node)
    return floor


def stairs_up(graph):
    """Imports inside a loop: each one climbs back up to a room that (indirectly) imports its importer."""
    up = []
    for group in loops(graph):
        members = set(group)
        up.extend((a, b) for a in group for b in sorted(graph[a]) if b in members)
    return up


def app_of(module):
    """The top-level package a module belongs to: `articles` (the news app) or `conclave` (the wiring)."""
    return module.partition(".")[0]


def app_graph(graph):
    """Imports between the top-level packages."""
    apps = {}
    for importer, targets in graph.items():
        edges = apps.setdefault(app_of(importer), set())
        edges.update(app_of(t) for t in targets if app_of(t) != app_of(importer))
    return apps


def is_urlconf(module):
    """Whether a module routes URLs: a urls.py, or a module of views with urlpatterns of its own that a
    urls.py includes by its dotted name."""
    if module.rpartition(".")[2] == "urls":
        return True
    tree = ast.parse(project_modules()[module].read_text())
    return any(
        isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "urlpatterns" for t in node.targets)
        for node in tree.body
    )


def is_template_library(module):
    return ".templatetags." in module


def page_modules(graph):
    """Modules whose views a URLconf routes to: the top floor, where requests come in."""
    routers = {module for module in graph if module.rpartition(".")[2] == "urls"}
    pages = {target for router in routers for target in graph[router]}
    return pages | {module for module in graph if is_urlconf(module) and module not in routers}


def stairs_into_upper_layers(graph, pages=None):
    """Imports that reach up into a layer meant for others: a template library imported by anything but
    another template library (templates load them), or a page module (``pages``, by default those the
    URLconfs route to) imported by anything but a URLconf or another page module."""
    pages = page_modules(graph) if pages is None else pages
    up = []
    for importer, targets in sorted(graph.items()):
        for target in sorted(targets):
            into_templates = is_template_library(target) and not is_template_library(importer)
            into_pages = target in pages and not (importer.rpartition(".")[2] == "urls" or importer in pages)
            if into_templates or into_pages:
                up.append((importer, target))
    return up


def longest(count=5):
    """The longest modules and classes, by lines, as (lines, name) pairs."""
    modules, classes = [], []
    for name, path in project_modules().items():
        source = path.read_text()
        modules.append((len(source.splitlines()), name))
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ClassDef):
                classes.append((node.end_lineno - node.lineno + 1, f"{name}.{node.name}"))
    return sorted(modules, reverse=True)[:count], sorted(classes, reverse=True)[:count]


def main():
    graph = import_graph()
    floor = floors(graph)
    for level in range(max(floor.values()) + 1):
        rooms = sorted(name for name, value in floor.items() if value == level)
        print(f"floor {level:2}: {', '.join(rooms)}")
    up = stairs_up(graph)
    print(f"\n{len(loops(graph))} loops, {len(up)} stairs inside them")
    for group in loops(graph):
        print("  loop:", " ⇄ ".join(group))
    for importer, imported in up:
        print(f"  {importer} → {imported}")
    apps = app_graph(graph)
    print(f"\napps: {len(loops(apps))} loops")
    for group in loops(apps):
        for importer, imported in stairs_up(apps):
            if importer in group:
                users = sorted(
                    m for m in graph if app_of(m) == importer and any(app_of(t) == imported for t in graph[m])
                )
                print(f"  {importer} → {imported}  (from {', '.join(users)})")
    layered = stairs_into_upper_layers(graph)
    print(f"\n{len(layered)} stairs into the page or template layer from below")
    for importer, imported in layered:
        print(f"  {importer} → {imported}")
    modules, classes = longest()
    print("\nlongest modules:", ", ".join(f"{name} {lines}" for lines, name in modules))
    print("longest classes:", ", ".join(f"{name} {lines}" for lines, name in classes))


if __name__ == "__main__":
    main()
