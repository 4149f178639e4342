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


def package_of(module):
    """The package a module lives in: `articles.following.tokens` is in `articles.following`."""
    path = project_modules()[module]
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


def package_graph(graph):
    """Imports between packages, a package's own __init__ and modules taken together."""
    packages = {}
    for importer, targets in graph.items():
        edges = packages.setdefault(package_of(importer), set())
        edges.update(package_of(t) for t in targets if package_of(t) != package_of(importer))
    return packages


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
    packages = package_graph(graph)
    print(f"\npackages: {len(loops(packages))} loops")
    for group in loops(packages):
        print("  loop:", " ⇄ ".join(group))
        for importer, imported in stairs_up(packages):
            if importer in group:
                users = sorted(
                    m
                    for m in graph
                    if package_of(m) == importer and any(package_of(t) == imported for t in graph[m])
                )
                print(f"    {importer} → {imported}  (from {', '.join(users)})")
    modules, classes = longest()
    print("\nlongest modules:", ", ".join(f"{name} {lines}" for lines, name in modules))
    print("longest classes:", ", ".join(f"{name} {lines}" for lines, name in classes))


if __name__ == "__main__":
    main()
