"""The shape of the code (Step 9): no import climbs back up. See tests/support/module_map.py."""

from tests.support import module_map


def test_no_module_imports_one_that_imports_it_back():
    assert module_map.stairs_up(module_map.import_graph()) == []


def test_the_wiring_in_conclave_imports_nothing_of_the_news_app():
    graph = module_map.import_graph()
    assert {
        (module, target)
        for module, targets in graph.items()
        if module.startswith("conclave")
        for target in targets
        if target.startswith("articles")
    } == set()
    assert module_map.loops(module_map.app_graph(graph)) == []


def test_template_libraries_and_pages_are_imported_only_from_their_own_layer():
    assert module_map.stairs_into_upper_layers(module_map.import_graph()) == []


def test_the_checks_see_a_loop_and_a_stair_into_the_page_layer():
    graph = {
        "articles.models": {"articles.views"},
        "articles.views": {"articles.models"},
        "articles.urls": {"articles.views"},
        "articles.templatetags.news": set(),
        "articles.feeds": {"articles.templatetags.news"},
        "conclave.pagecache": {"articles.models"},
    }
    assert module_map.loops(graph) == [["articles.models", "articles.views"]]
    assert ("articles.models", "articles.views") in module_map.stairs_up(graph)
    assert module_map.loops(module_map.app_graph({**graph, "articles.models": {"conclave.pagecache"}})) == [
        ["articles", "conclave"]
    ]
    assert module_map.stairs_into_upper_layers(graph, pages={"articles.views"}) == [
        ("articles.feeds", "articles.templatetags.news"),
        ("articles.models", "articles.views"),
    ]
