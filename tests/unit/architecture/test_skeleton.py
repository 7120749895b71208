"""Every service and area has the skeleton docs/ARCHITECTURE.md writes down ("Inside a service"), and the import
contracts in pyproject.toml name the same layers: the doc, the contracts and the tree agree."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
SERVICES = REPO / "services"


def _section(title: str) -> str:
    text = (REPO / "docs" / "ARCHITECTURE.md").read_text()
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def _skeleton() -> tuple[dict[str, str], set[str]]:
    """(entry -> what it is, entries only a service's root has) from the skeleton's code block."""
    block = re.search(r"### The skeleton\n+```\n(.*?)```", _section("Inside a service"), re.S)
    assert block, "docs/ARCHITECTURE.md has no skeleton block under 'Inside a service'"
    entries: dict[str, str] = {}
    service_only: set[str] = set()
    for line in block.group(1).splitlines()[1:]:  # the first line names the tree
        found = re.match(r"^\s+(\S+)\s+(.*)$", line)
        assert found, f"unreadable skeleton line: {line!r}"
        entry, what = found.groups()
        entries[entry] = what
        if what.startswith("service:"):
            service_only.add(entry)
    return entries, service_only


def _areas() -> dict[str, list[str]]:
    """service -> its areas, from the paths `services/<service>/<area>/` the section names."""
    areas: dict[str, list[str]] = {}
    for service, area in re.findall(r"`services/(\w+)/(\w+)/`", _section("Inside a service")):
        if area != "<service>":
            areas.setdefault(service, []).append(area)
    return areas


def _web_exception() -> tuple[set[str], set[str]]:
    """(entries the web app has not, entries only it has), from the "Its skeleton" item of "The web app": it owns
    no data (no migrations, store, consumers, jobs, rpc) and has its templates, static files and catalogues."""
    text = _section("The web app (services/web; issue 12)")
    item = re.search(r"\*\*Its skeleton\*\*(.*?)\n- \*\*", text, re.S)
    assert item, "docs/ARCHITECTURE.md's web app section has no 'Its skeleton' item"
    without = re.search(r"\(no (`[^)]*)\)", item.group(1))
    plus = re.search(r"plus (.*)$", item.group(1), re.S)
    assert without, "the web app's skeleton item does not say what it has not: (no `migrations/`, ...)"
    assert plus, "the web app's skeleton item does not say what it adds: plus `templates/`, ..."
    return set(re.findall(r"`([\w.]+/?)`", without.group(1))), set(re.findall(r"`([\w.]+/)`", plus.group(1)))


ENTRIES, SERVICE_ONLY = _skeleton()
AREAS = _areas()
WEB_WITHOUT, WEB_EXTRA = _web_exception()
REQUIRED = {"__init__.py", "app.py", "settings.py", "migrations/"}
# Layers that are always packages; the others may be a module or, grown, a package of the same name.
PACKAGES_ONLY = {"api/", "adapters/", "migrations/"}
NEVER_PACKAGES = {"__init__.py", "app.py", "settings.py"}


def _names(entry: str) -> set[str]:
    """What an entry may be on disk: `domain/` -> {domain/, domain.py}."""
    stem = entry.rstrip("/").removesuffix(".py")
    if entry in PACKAGES_ONLY:
        return {entry}
    if entry in NEVER_PACKAGES:
        return {entry}
    return {f"{stem}/", f"{stem}.py"}


def _on_disk(directory: Path) -> set[str]:
    return {
        f"{p.name}/" if p.is_dir() else p.name
        for p in directory.iterdir()
        if p.name != "__pycache__" and not p.name.startswith(".")
    }


def _allowed(entries: set[str]) -> dict[str, str]:
    return {name: entry for entry in entries for name in _names(entry)}


def _services() -> list[Path]:
    return sorted(p for p in SERVICES.iterdir() if p.is_dir() and (p / "__init__.py").exists())


def test_the_doc_lists_the_skeleton_and_lives_areas() -> None:
    assert set(ENTRIES) >= REQUIRED
    assert {"app.py", "settings.py", "migrations/"} == SERVICE_ONLY
    assert {"api/", "use_cases/", "domain/", "store/", "views.py", "consumers.py", "jobs.py", "rpc.py"} <= set(ENTRIES)
    assert AREAS == {"live": ["rooms", "flash_sales", "coupons", "videos", "funnel"]}
    assert {"migrations/", "store/", "consumers.py", "jobs.py", "rpc.py"} == WEB_WITHOUT
    assert {"templates/", "static/", "locale/"} == WEB_EXTRA


@pytest.mark.parametrize("service", _services(), ids=lambda p: p.name)
def test_each_service_holds_the_skeleton_and_nothing_else(service: Path) -> None:
    present = _on_disk(service)
    areas = AREAS.get(service.name, [])
    required = REQUIRED
    if areas:
        # A service of areas keeps only its wiring at the root; everything else is inside an area.
        allowed = _allowed(SERVICE_ONLY | {"__init__.py"}) | {f"{area}/": "an area" for area in areas}
    elif service.name == "web":
        # The web app owns no data: the skeleton less what only data owners have, plus its pages' files.
        allowed = _allowed(set(ENTRIES) - WEB_WITHOUT) | {entry: "the web app's" for entry in WEB_EXTRA}
        required = REQUIRED - WEB_WITHOUT
    else:
        allowed = _allowed(set(ENTRIES))
    outside = present - set(allowed)
    assert not outside, f"services/{service.name} holds {sorted(outside)}, outside the skeleton in docs/ARCHITECTURE.md"
    missing = {entry for entry in required if not _names(entry) & present}
    assert not missing, f"services/{service.name} lacks {sorted(missing)}"
    for area in areas:
        assert (service / area).is_dir(), f"services/{service.name}/{area}/, an area the doc names, is missing"


@pytest.mark.parametrize(
    "area",
    [SERVICES / service / area for service, areas in AREAS.items() for area in areas],
    ids=lambda p: f"{p.parent.name}.{p.name}",
)
def test_each_area_holds_the_skeleton_less_the_services_wiring(area: Path) -> None:
    present = _on_disk(area)
    allowed = _allowed(set(ENTRIES) - SERVICE_ONLY)
    outside = present - set(allowed)
    assert not outside, f"{area.relative_to(REPO)} holds {sorted(outside)}, outside the skeleton"
    assert "__init__.py" in present


def test_the_import_contracts_name_the_skeletons_layers_and_cover_every_service_and_area() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
    layered = [c for c in config["contracts"] if c["type"] == "layers"]
    covered: set[str] = set()
    for contract in layered:
        covered |= set(contract.get("containers", []))
        assert contract.get("exhaustive") is True, f"{contract['name']}: not exhaustive, a new module would pass"
        names = {name.strip().strip("()") for layer in contract["layers"] for name in re.split(r"[|:]", layer)}
        containers = contract["containers"]
        if containers == ["services.live"]:
            assert names == {"app", "settings", *AREAS["live"]}, contract["name"]
            continue
        expected = {e.rstrip("/").removesuffix(".py") for e in ENTRIES} - {"__init__", "migrations"}
        if any(c.count(".") == 2 for c in containers):  # live's areas: no wiring of their own
            expected -= {e.rstrip("/").removesuffix(".py") for e in SERVICE_ONLY}
        assert names == expected, f"{contract['name']}: layers {sorted(names)} differ from the doc's {sorted(expected)}"
    wanted = {f"services.{p.name}" for p in _services()} | {
        f"services.{service}.{area}" for service, areas in AREAS.items() for area in areas
    }
    assert wanted <= covered, f"no layers contract for {sorted(wanted - covered)}"


def _api_modules() -> list[Path]:
    return sorted(SERVICES.glob("*/api/*.py")) + sorted(SERVICES.glob("*/*/api/*.py"))


def test_no_api_module_opens_a_transaction_or_writes_sql() -> None:
    # The use case owns its transaction: an API module decodes, authorises, calls one use case, encodes.
    offenders = []
    for module in _api_modules():
        text = module.read_text()
        for pattern in (r"\.transaction\(", r"\bwrite_once\b", r"\bconn\.(execute|fetch)", r"\bINSERT INTO\b"):
            if re.search(pattern, text):
                offenders.append(f"{module.relative_to(REPO)}: {pattern}")
    assert not offenders, offenders
