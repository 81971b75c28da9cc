"""docs/architecture.md cannot silently rot: every name it cites exists in the code.

The page cites code in backticks. Each span of a recognisable form is checked:

* ``pkg.module.name`` / ``module.name`` / ``module.Class.method``: the module is
  ``pyrtcstack.<prefix>`` or the one pyrtcstack module whose dotted name ends with the
  prefix (an ambiguous prefix fails: qualify it); the rest is looked up with getattr;
* ``Class.attr``: some class of that name defined in pyrtcstack has the attribute (a method,
  a property, a dataclass field, a slot, or an attribute its ``__init__`` assigns);
* ``Name`` (a class or a CONSTANT): some pyrtcstack module defines it;
* ``dir/file.py``, ``file.py``, ``.importlinter``: the file exists.

Plain words in backticks (``now``, ``handle_timer``, ``a=setup``...) are not checked. The
page's contract table is checked with ``isinstance`` on a real instance of every class it
names, and its import table against the import graph import-linter sees (grimp).
"""

from __future__ import annotations

import builtins
import importlib
import inspect
import pkgutil
import random
import re
from collections.abc import Callable
from functools import cache
from pathlib import Path
from types import ModuleType

import grimp
import pytest

import pyrtcstack
from pyrtcstack.common import core as contract

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "architecture.md"

_FENCE = re.compile(r"^```.*?^```", re.DOTALL | re.MULTILINE)
_SPAN = re.compile(r"`([^`\n]+)`")
_NAME = re.compile(r"([A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)*)(?:\(.*\))?")
_EXTENSIONS = (".py", ".md", ".js", ".toml", ".sh", ".importlinter")


def page_text(path: Path = PAGE) -> str:
    return _FENCE.sub("", path.read_text(encoding="utf-8"))


def cited(text: str) -> tuple[list[str], list[str]]:
    """The dotted/capitalised names and the file paths cited in backticks, in order."""
    names: list[str] = []
    paths: list[str] = []
    for raw in _SPAN.findall(text):
        span = raw.strip()
        if " " not in span and ("/" in span or span.endswith(_EXTENSIONS)):
            paths.append(span)
            continue
        match = _NAME.fullmatch(span)
        if match is None:
            continue
        name = match.group(1)
        if "." in name or name[0].isupper():
            names.append(name)
    return list(dict.fromkeys(names)), list(dict.fromkeys(paths))


@cache
def all_modules() -> dict[str, ModuleType]:
    """Every pyrtcstack module that imports (optional dependencies missing: left out)."""
    modules: dict[str, ModuleType] = {"pyrtcstack": pyrtcstack}
    for info in pkgutil.walk_packages(pyrtcstack.__path__, "pyrtcstack."):
        if info.name.endswith("__main__"):  # runs the CLI when imported
            continue
        try:
            modules[info.name] = importlib.import_module(info.name)
        except ImportError as exc:  # an optional dependency (aiohttp...) is absent
            if (exc.name or "").startswith("pyrtcstack"):
                raise
    return modules


@cache
def classes_named(name: str) -> list[type]:
    found: dict[int, type] = {}
    for module in all_modules().values():
        obj = vars(module).get(name)
        if inspect.isclass(obj) and obj.__module__.startswith("pyrtcstack"):
            found[id(obj)] = obj
    return list(found.values())


def has_attribute(cls: type, attr: str) -> bool:
    """A method, property, descriptor, class attribute, slot, annotated field, or an
    attribute a method of the class (or a base) assigns as ``self.attr = ...``."""
    if hasattr(cls, attr):
        return True
    assign = re.compile(rf"\bself\.{re.escape(attr)}\s*(?::[^=\n]*)?=[^=]")
    for klass in cls.__mro__:
        if attr in getattr(klass, "__annotations__", {}):
            return True
        if klass.__module__.startswith("pyrtcstack"):
            try:
                source = inspect.getsource(klass)
            except (OSError, TypeError):
                continue
            if assign.search(source):
                return True
    return False


def resolve_module(prefix: str) -> ModuleType | None:
    """``pyrtcstack.<prefix>``, or the one module whose name ends with ``.<prefix>``."""
    modules = all_modules()
    for name in (prefix, f"pyrtcstack.{prefix}"):
        if name in modules:
            return modules[name]
    matches = [m for n, m in modules.items() if n.endswith(f".{prefix}")]
    if len(matches) == 1:
        return matches[0]
    if not matches and "." not in prefix and prefix not in modules:
        try:  # the standard library (`random.Random`)
            module = importlib.import_module(prefix)
        except ImportError:
            return None
        return module if not module.__name__.startswith("pyrtcstack") else None
    return None


def name_exists(name: str) -> bool:
    parts = name.split(".")
    if len(parts) == 1:
        if hasattr(builtins, name):
            return True
        return any(name in vars(m) for m in all_modules().values())
    # a module prefix, longest first, then getattr for the rest
    for cut in range(len(parts) - 1, 0, -1):
        module = resolve_module(".".join(parts[:cut]))
        if module is None:
            continue
        obj: object = module
        rest = parts[cut:]
        for i, attr in enumerate(rest):
            if hasattr(obj, attr):
                obj = getattr(obj, attr)
            elif inspect.isclass(obj) and i == len(rest) - 1 and has_attribute(obj, attr):
                return True
            else:
                break
        else:
            return True
    if len(parts) == 2 and parts[0][0].isupper():
        return any(has_attribute(cls, parts[1]) for cls in classes_named(parts[0]))
    return False


def path_exists(path: str) -> bool:
    path = path.rstrip("/")
    for base in (ROOT, ROOT / "pyrtcstack", ROOT / "docs"):
        if (base / path).exists():
            return True
    if "/" not in path:  # a bare file name: somewhere in the package
        return any((ROOT / "pyrtcstack").rglob(path))
    return False


NAMES, PATHS = cited(page_text())


def test_the_page_cites_enough_code_to_be_checked() -> None:
    assert len(NAMES) > 150
    assert len(PATHS) > 40


@pytest.mark.parametrize("name", NAMES)
def test_every_name_the_page_cites_exists(name: str) -> None:
    assert name_exists(name), f"docs/architecture.md cites `{name}`, which the code lacks"


@pytest.mark.parametrize("path", PATHS)
def test_every_file_the_page_cites_exists(path: str) -> None:
    assert path_exists(path), f"docs/architecture.md cites `{path}`, which does not exist"


def _missing(text: str) -> set[str]:
    names, paths = cited(text)
    return {n for n in names if not name_exists(n)} | {p for p in paths if not path_exists(p)}


def test_a_misspelt_name_or_path_is_caught() -> None:
    """The checks above can fail: the same page with one name or path misspelt."""
    text = page_text()
    before = _missing(text)
    for good, bad in [
        ("`DtlsConnection.take_application_data`", "`DtlsConnection.take_application_dat`"),
        ("`bulk.receive_packets`", "`bulk.receive_packet`"),
        ("`MultiSocketDriver`", "`MultiSocketDrivers`"),
        ("`sdp/parser.py`", "`sdp/parse.py`"),
    ]:
        assert good in text
        assert _missing(text.replace(good, bad, 1)) - before == {bad.strip("`")}


# ---- the contract table: which class implements which family ---------------------------
def _instances() -> dict[str, Callable[[], object]]:
    from pyrtcstack.datachannel import DataChannelManager
    from pyrtcstack.dtls import DtlsConnection
    from pyrtcstack.ice import IceAgent, IceConfig
    from pyrtcstack.ice.mdns_responder import MdnsResponder
    from pyrtcstack.media.endpoint import MediaEndpoint
    from pyrtcstack.peerconnection import PeerConnectionCore
    from pyrtcstack.sctp import SctpConfig
    from pyrtcstack.sctp.adapter import DatagramAdapter
    from pyrtcstack.sctp.association import Association
    from pyrtcstack.sip import TransactionLayer, UserAgent
    from pyrtcstack.stun.nat import NatBehaviorDiscovery
    from pyrtcstack.stun.server import ServerEndpoint, StunServer
    from pyrtcstack.stun.transaction import StunClient
    from pyrtcstack.testing.icenet import TurnServerNode
    from pyrtcstack.turn.client import TurnClient
    from pyrtcstack.turn.relays import RelayEndpoint
    from pyrtcstack.turn.server import TurnServer

    here = ("127.0.0.1", 3478)
    rng = random.Random(1)
    return {
        "StunClient": lambda: StunClient(rng=rng),
        "NatBehaviorDiscovery": lambda: NatBehaviorDiscovery(here, rng=rng),
        "ServerEndpoint": lambda: ServerEndpoint(StunServer(here), here),
        "StunServer": lambda: StunServer(here),
        "TurnClient": lambda: TurnClient(here, "user", "pass", rng=rng),
        "TurnServer": lambda: TurnServer(here, {"user": "pass"}, rng=rng),
        "RelayEndpoint": lambda: RelayEndpoint(TurnServer(here, {"u": "p"}, rng=rng), here),
        "TurnServerNode": lambda: TurnServerNode(TurnServer(here, {"u": "p"}, rng=rng)),
        "DtlsConnection": lambda: DtlsConnection(None, rng=rng),
        "MediaEndpoint": lambda: MediaEndpoint(here, rng=rng),
        "MdnsResponder": MdnsResponder,
        "DatagramAdapter": lambda: DatagramAdapter(Association(rng=rng), here),
        "IceAgent": lambda: IceAgent(IceConfig(), rng=rng),
        "PeerConnectionCore": lambda: PeerConnectionCore(rng=rng),
        "Association": lambda: Association(rng=rng),
        "DataChannelManager": lambda: DataChannelManager(SctpConfig(), rng=rng),
        "TransactionLayer": lambda: TransactionLayer(here, rng=rng),
        "UserAgent": lambda: UserAgent(here, rng=rng),
    }


def contract_table(text: str) -> dict[str, list[str]]:
    """``family -> [class]`` from the page's table "Which class is which"."""
    section = text.split("Which class is which", 1)[1].split("\n\n", 2)[1]
    table: dict[str, list[str]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 2 and cells[0].startswith("`"):
            table[cells[0].strip("`")] = re.findall(r"`(\w+)`", cells[1])
    return table


def test_the_contract_table_matches_isinstance() -> None:
    table = contract_table(page_text())
    assert set(table) == {"DatagramCore", "MultiSocketCore", "PacketCore"}
    factories = _instances()
    for family, names in table.items():
        protocol = getattr(contract, family)
        for name in names:
            assert name in factories, f"the page names {name}: add it to _instances()"
            core = factories[name]()
            assert isinstance(core, protocol), f"{name} is not a {family}"
            assert isinstance(core, contract.Core)
    # and every core the test knows is on the page
    assert {n for names in table.values() for n in names} == set(factories)


# ---- the import table: who imports whom --------------------------------------------------
def import_table(text: str, heading: str = "Who imports whom") -> dict[str, set[str]]:
    """``package -> {package}`` from the two-column table after ``heading``."""
    section = text.split(heading, 1)[1].split("\n\n", 2)[1]
    table: dict[str, set[str]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 2 and cells[0].startswith("`"):
            imports = {c.strip() for c in cells[1].split(",")} - {"—", ""}
            table[cells[0].strip("`")] = imports
    return table


def test_the_import_table_is_the_import_graph() -> None:
    graph = grimp.build_graph("pyrtcstack")

    def package(module: str) -> str:
        return module.split(".")[1] if "." in module else "(root)"

    actual: dict[str, set[str]] = {}
    for module in graph.modules:
        if module in ("pyrtcstack", "pyrtcstack.__main__", "pyrtcstack.py"):
            continue
        source = package(module)
        targets = actual.setdefault(source, set())
        for imported in graph.find_modules_directly_imported_by(module):
            if package(imported) != source:
                targets.add(package(imported))
    assert import_table(page_text()) == actual


def test_the_sections_the_code_refers_to_exist() -> None:
    """Docstrings and comments point at sections of the page by title."""
    headings = [
        line.lstrip("#").strip() for line in PAGE.read_text().splitlines() if line.startswith("#")
    ]
    refs = set()
    for path in (ROOT / "pyrtcstack").rglob("*.py"):
        refs.update(re.findall(r'architecture\.md[,:]?\s+"([^"]+)"', path.read_text()))
    assert refs
    for ref in refs:
        assert any(h.startswith(ref) for h in headings), f'no section "{ref}" on the page'


def test_the_table_of_packages_reached_into_is_the_import_graph() -> None:
    """Who imports a module of another package (not its ``__init__``), ``common`` aside."""
    graph = grimp.build_graph("pyrtcstack")
    actual: dict[str, set[str]] = {}
    for module in graph.modules:
        if module == "pyrtcstack.__main__":
            continue
        source = module.split(".")[1] if "." in module else "(root)"
        for imported in graph.find_modules_directly_imported_by(module):
            parts = imported.split(".")
            if len(parts) >= 3 and parts[1] != source and parts[1] != "common":
                actual.setdefault(parts[1], set()).add(source)
    text = page_text()
    section = "Packages that other packages still reach into by module"
    assert section in text
    assert import_table(text, section) == actual
