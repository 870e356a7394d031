"""The README's install lines name what pip needs: every sibling folder from a clone, the wheelhouse otherwise."""

from __future__ import annotations

import tomllib

import pytest
from packaging.requirements import Requirement

from .install_table import install_rows, projects, siblings

PROJECTS = projects()
ROWS = install_rows()


def test_every_distribution_has_one_row() -> None:
    assert sorted(ROWS) == sorted(PROJECTS)
    assert len(PROJECTS) == 6


@pytest.mark.parametrize("name", sorted(PROJECTS))
def test_clone_line_names_every_sibling_folder(name: str) -> None:
    command, *folders = ROWS[name].from_clone.split()[1:]
    assert command == "install"
    assert sorted(folders) == sorted(PROJECTS[n].folder for n in siblings(name, PROJECTS))


@pytest.mark.parametrize("name", sorted(PROJECTS))
def test_wheelhouse_line_and_extras(name: str) -> None:
    assert ROWS[name].from_wheelhouse == f"pip install --find-links dist/wheelhouse {name}"
    assert sorted(ROWS[name].extras) == sorted(PROJECTS[name].extras)


@pytest.mark.parametrize("name", sorted(PROJECTS))
def test_sibling_ranges_accept_the_siblings_of_this_commit(name: str) -> None:
    for requirement in PROJECTS[name].requires:
        sibling = PROJECTS.get(requirement.name)
        if sibling is not None:
            assert requirement.specifier.contains(sibling.version), (name, str(requirement), sibling.version)


def test_demo_extra_pulls_the_modules_the_demo_checks() -> None:
    """medadapt-study[demo] → medadapt-models[smollm2], which must provide what `medadapt demo` looks for."""
    demo = tomllib.loads((PROJECTS["medadapt-study"].readme.parent / "pyproject.toml").read_text())
    (requirement,) = [Requirement(r) for r in demo["project"]["optional-dependencies"]["demo"]]
    assert requirement.name == "medadapt-models" and requirement.extras == {"smollm2"}
    models = tomllib.loads((PROJECTS["medadapt-models"].readme.parent / "pyproject.toml").read_text())
    provided = {Requirement(r).name for r in models["project"]["optional-dependencies"]["smollm2"]}
    demo_module = pytest.importorskip("medadapt.study.demo")
    assert set(demo_module.DEMO_MODULES) <= provided
