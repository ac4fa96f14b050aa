"""Optional dependencies: without its extra a command says which one to install (one line,
exit status 2); the pipeline, the API and ``vitals --help`` need none. The packaging
metadata and the image's lock file agree with that split."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

from vitals.cli import main
from vitals.extras import EXTRAS, MissingExtra, require_extra

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
#: Modules of the extras that ``pip install vitals`` alone does not bring (matplotlib does
#: come, as a dependency of neurokit2: the plot extra only declares the direct import).
NOT_INSTALLED = sorted(
    module for modules in EXTRAS.values() for module in modules if module != "matplotlib"
)


def _without(modules: list[str], code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter where ``modules`` cannot be imported (as when
    their extra is not installed)."""
    prelude = textwrap.dedent(
        f"""
        import sys
        for name in {modules!r}:
            sys.modules[name] = None  # import raises ModuleNotFoundError, find_spec is None
        """
    )
    return subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        timeout=240,
        check=False,
    )


def test_help_the_pipeline_and_the_api_import_without_any_extra(tmp_path: Path) -> None:
    done = _without(
        NOT_INSTALLED,
        """
        import vitals.commands.run, vitals.commands.api, vitals.api, vitals.wiring
        from vitals.cli import main
        sys.exit(main(["--help"]))
        """,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    for command in ("run", "api", "demo", "bridge", "worker", "plot", "import"):
        assert re.search(rf"^\s+{command}\s", done.stdout, re.MULTILINE), command


@pytest.mark.parametrize(
    ("argv", "extra"),
    [
        (["demo"], "demo"),
        (["bridge"], "scaleout"),
        (["worker"], "scaleout"),
        (["plot", "trace.jsonl", "--user", "1", "-o", "out.png"], "plot"),
        (["import", "wfdb", "rec", "--user", "1", "--device", "d", "-o", "t.jsonl"], "import"),
    ],
)
def test_a_command_without_its_extra_names_the_extra_to_install(
    argv: list[str],
    extra: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    for module in EXTRAS[extra]:
        monkeypatch.setitem(sys.modules, module, None)  # as if not installed
    assert main(argv) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(f"vitals {argv[0]}: ")
    assert f"install the {extra} extra, pip install 'vitals[{extra}]'" in line
    assert all(dist in line for dist in EXTRAS[extra].values())
    assert list(tmp_path.iterdir()) == []  # refused before doing anything


def test_require_extra_passes_when_installed_and_names_what_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import faust  # noqa: PLC0415 (its module object has no __spec__ once imported)

    assert faust.__spec__ is None
    require_extra("scaleout")  # the dev install has every extra
    monkeypatch.setitem(sys.modules, "aiokafka", None)
    with pytest.raises(MissingExtra, match=r"^aiokafka is not installed: install the scaleout"):
        require_extra("scaleout")


# -- packaging metadata ----------------------------------------------------------------
def _name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9._-]+", requirement)
    assert match, requirement
    return match.group(0).lower().replace("_", "-")


def test_runtime_dependencies_hold_no_extra_and_no_test_tool() -> None:
    runtime = {_name(r) for r in PYPROJECT["project"]["dependencies"]}
    extras = PYPROJECT["project"]["optional-dependencies"]
    for name in EXTRAS:
        assert {_name(r) for r in extras[name]}.isdisjoint(runtime), name
        assert {_name(r) for r in extras[name]} == set(EXTRAS[name].values()), name
    assert {"pytest", "cryptography", "hypothesis", "ruff", "mypy"}.isdisjoint(runtime)
    assert "pymysql[rsa]" in {r.split(">")[0] for r in PYPROJECT["project"]["dependencies"]}
    [everything] = [r for r in extras["dev"] if r.startswith("vitals[")]
    assert set(everything[len("vitals[") : -1].split(",")) == set(EXTRAS)


def test_the_lock_pins_with_hashes_every_dependency_of_the_image() -> None:
    lock = (ROOT / "requirements.lock").read_text()
    pinned = {
        m.group(1).lower().replace("_", "-")
        for m in re.finditer(r"^([A-Za-z0-9._-]+)==\S+ \\$", lock, re.MULTILINE)
    }
    wanted = [*PYPROJECT["project"]["dependencies"], *EXTRAS["scaleout"].values()]
    assert {_name(r) for r in wanted} <= pinned
    assert "pytest" not in pinned
    blocks = re.split(r"\n(?=[A-Za-z0-9])", lock.split("\n", 2)[2])
    assert all("--hash=sha256:" in block for block in blocks if "==" in block)
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install --no-cache-dir --require-hashes -r requirements.lock" in dockerfile
