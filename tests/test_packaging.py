"""What pyproject installs: the library as `minigrad`, the repository's models/ and tutorials/ as
`minigrad_models` and `minigrad_tutorials` (names no other project's `models` can shadow), and
every package folder of the three listed, so a wheel holds what an editable install finds."""
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_models_and_tutorials_install_under_names_that_cannot_collide():
    assert SETUPTOOLS["package-dir"] == {"minigrad": "minigrad", "minigrad_models": "models",
                                         "minigrad_tutorials": "tutorials"}


def test_every_package_folder_is_listed():
    on_disk = set()
    for name, folder in SETUPTOOLS["package-dir"].items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder).parts
            on_disk.add(".".join((name, *rel)))
    listed = set(SETUPTOOLS["packages"])
    assert on_disk - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"
    assert listed - on_disk == set(), "pyproject.toml lists packages that have no folder"


def test_the_installed_names_import_from_the_repository_folders():
    import minigrad_models.gpt
    import minigrad_tutorials

    assert Path(minigrad_models.gpt.__file__).resolve() == ROOT / "models" / "gpt.py"
    assert Path(minigrad_tutorials.__file__).resolve().parent == ROOT / "tutorials"
