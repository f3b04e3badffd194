"""Model cards on the specs (issue 17): the registry filters classifiers and retrievers by licence,
`vprkit plugins list --license` shows only those, and the Models page lists every built-in model
with the licence and headline numbers its card states (so the page cannot drift from the code)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vprkit.cli import build_app
from vprkit.plugins import registered_specs
from vprkit.registry import get_spec, list_classifiers, list_retrievers

MODELS_PAGE = Path(__file__).resolve().parents[1] / "docs" / "model-cards.md"


def _built_in(kind: str) -> list[str]:
    return [name for name, reg in registered_specs(kind).items() if reg.plugin.distribution == "vprkit"]


def test_the_licence_filter_keeps_only_the_methods_with_that_licence():
    mit = list_retrievers(license="MIT")
    assert "cosplace" in mit and "netvlad" not in mit  # NetVLAD's release states no licence
    assert list_retrievers(license="mit") == mit  # case does not matter
    unstated = list_classifiers(license="")
    assert "dnc" in unstated and not set(unstated) & set(list_classifiers(license="MIT"))
    both = list_retrievers(license=["MIT", ""])
    assert set(both) >= set(mit) | {"netvlad"}
    assert list_retrievers(license="no-such-licence") == []
    for name in mit:
        assert get_spec("retriever", name).card.license.lower() == "mit"


def test_plugins_list_filters_by_licence_and_shows_cards():
    result = CliRunner().invoke(build_app(), ["plugins", "list", "--license", "MIT", "--json"])
    assert result.exit_code == 0, result.output
    methods = json.loads(result.stdout)["methods"]
    assert set(methods) == {"classifier", "retriever"}  # other kinds carry no licence
    assert {r["name"] for r in methods["retriever"]} == set(list_retrievers(license="MIT"))
    assert all(r["card"]["license"].lower() == "mit" for rows in methods.values() for r in rows)


@pytest.mark.parametrize("kind", ["classifier", "retriever"])
def test_every_built_in_model_has_a_card_and_is_on_the_models_page(kind):
    page = MODELS_PAGE.read_text()
    for name in _built_in(kind):
        card = get_spec(kind, name).card
        row = next((line for line in page.splitlines() if line.startswith(f"| `{name}` ")), None)
        assert row is not None, f"{kind} {name!r} is not on {MODELS_PAGE.name}"
        assert (card.license or "not stated") in row, f"{name}: the page's licence differs from the card's"
        if card.paper:  # a method from a paper states its headline numbers, and the page shows them
            assert card.results, f"{kind} {name!r}: a card without the paper's headline results"
            for result in card.results:
                assert f"{result.value:g}" in row, f"{name}: {result.benchmark} {result.value:g} missing on the page"
