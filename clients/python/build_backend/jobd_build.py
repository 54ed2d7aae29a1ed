"""A PEP 517 build backend for the jobd client that needs nothing from PyPI.

Why not setuptools: pip builds a project in an isolated environment into
which it installs the ``[build-system] requires`` from PyPI; offline (and on
a Debian machine without network) that fails, unless every user remembers
``--no-build-isolation``. This backend has ``requires = []`` and uses only
the standard library, so ``pip install ./clients/python`` works anywhere.

What it does:
- generates ``jobd/_pb/jobd_pb2.py`` from ``proto/jobd.proto`` with
  ``protoc --python_out`` (Debian's ``protobuf-compiler``; ``$PROTOC``
  overrides), into a temporary directory: generated code is never
  committed. The .proto is looked up in the repository
  (``clients/python/../../proto/jobd.proto``) and then in ``proto/`` next
  to this project (an sdist carries a copy there);
- writes a pure-Python wheel (``py3-none-any``) with the package, the
  generated module, ``py.typed`` and the dist-info (METADATA, WHEEL,
  RECORD);
- writes an sdist holding the sources, this backend and a copy of the
  .proto.
"""
from __future__ import annotations

import base64
import hashlib
import io
import os
import shutil
import subprocess
import tarfile
import tempfile
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "jobd"


def _project() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["project"]


def _proto_path() -> Path:
    for p in (ROOT.parent.parent / "proto" / "jobd.proto",
              ROOT / "proto" / "jobd.proto"):
        if p.is_file():
            return p
    raise RuntimeError(
        f"cannot find jobd.proto: neither {ROOT.parent.parent / 'proto'} "
        f"nor {ROOT / 'proto'} holds it")


def _generate(out: Path) -> Path:
    """Run protoc on jobd.proto; return the path of jobd_pb2.py."""
    proto = _proto_path()
    protoc = os.environ.get("PROTOC") or shutil.which("protoc")
    if not protoc:
        raise RuntimeError("protoc not found (Debian: apt-get install "
                           "protobuf-compiler), or set $PROTOC")
    subprocess.run([protoc, f"--proto_path={proto.parent}",
                    f"--python_out={out}", str(proto)], check=True)
    gen = out / "jobd_pb2.py"
    if not gen.is_file():
        raise RuntimeError(f"protoc wrote no {gen}")
    return gen


def _dist_name() -> str:
    p = _project()
    return f"{p['name']}-{p['version']}"


def _metadata() -> str:
    p = _project()
    lines = ["Metadata-Version: 2.1", f"Name: {p['name']}",
             f"Version: {p['version']}", f"Summary: {p['description']}",
             f"Requires-Python: {p['requires-python']}"]
    lines += [f"Requires-Dist: {d}" for d in p.get("dependencies", [])]
    readme = ROOT / "README.md"
    if readme.is_file():
        lines.append("Description-Content-Type: text/markdown")
        return "\n".join(lines) + "\n\n" + readme.read_text("utf-8")
    return "\n".join(lines) + "\n"


_WHEEL = ("Wheel-Version: 1.0\nGenerator: jobd_build\n"
          "Root-Is-Purelib: true\nTag: py3-none-any\n")


def _package_files() -> list[tuple[str, bytes]]:
    files = []
    for path in sorted((ROOT / PACKAGE).rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts \
                and path.suffix in (".py", ".typed"):
            rel = path.relative_to(ROOT).as_posix()
            if rel.startswith(f"{PACKAGE}/_pb/") and rel.endswith("_pb2.py"):
                continue  # a stale local generation: regenerated below
            files.append((rel, path.read_bytes()))
    return files


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest())
    return f"{name},sha256={digest.rstrip(b'=').decode()},{len(data)}"


def _write_dist_info(dest: Path) -> str:
    info = f"{_dist_name()}.dist-info"
    (dest / info).mkdir(parents=True, exist_ok=True)
    (dest / info / "METADATA").write_text(_metadata(), "utf-8")
    (dest / info / "WHEEL").write_text(_WHEEL, "utf-8")
    return info


# --- the PEP 517 hooks ---------------------------------------------------

def get_requires_for_build_wheel(config_settings=None) -> list[str]:
    return []


def get_requires_for_build_sdist(config_settings=None) -> list[str]:
    return []


def prepare_metadata_for_build_wheel(metadata_directory,
                                     config_settings=None) -> str:
    return _write_dist_info(Path(metadata_directory))


def build_wheel(wheel_directory, config_settings=None,
                metadata_directory=None) -> str:
    name = f"{_dist_name()}-py3-none-any.whl"
    info = f"{_dist_name()}.dist-info"
    files = _package_files()
    with tempfile.TemporaryDirectory() as tmp:
        gen = _generate(Path(tmp))
        files.append((f"{PACKAGE}/_pb/jobd_pb2.py", gen.read_bytes()))
    if not any(n == f"{PACKAGE}/_pb/__init__.py" for n, _ in files):
        files.append((f"{PACKAGE}/_pb/__init__.py", b""))
    files.append((f"{info}/METADATA", _metadata().encode()))
    files.append((f"{info}/WHEEL", _WHEEL.encode()))
    record = [_record_line(n, d) for n, d in files] + [f"{info}/RECORD,,"]
    files.append((f"{info}/RECORD", ("\n".join(record) + "\n").encode()))
    path = Path(wheel_directory) / name
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for n, d in files:
            z.writestr(n, d)
    return name


def build_sdist(sdist_directory, config_settings=None) -> str:
    base = _dist_name()
    name = f"{base}.tar.gz"
    members = [(rel, (ROOT / rel).read_bytes()) for rel in
               ("pyproject.toml", "README.md", "build_backend/jobd_build.py")
               if (ROOT / rel).is_file()]
    members += _package_files()
    members.append(("proto/jobd.proto", _proto_path().read_bytes()))
    pkg = _project()
    pkginfo = (f"Metadata-Version: 2.1\nName: {pkg['name']}\n"
               f"Version: {pkg['version']}\n").encode()
    members.append(("PKG-INFO", pkginfo))
    with tarfile.open(Path(sdist_directory) / name, "w:gz",
                      format=tarfile.PAX_FORMAT) as t:
        for rel, data in members:
            ti = tarfile.TarInfo(f"{base}/{rel}")
            ti.size = len(data)
            ti.mode = 0o644
            t.addfile(ti, io.BytesIO(data))
    return name
