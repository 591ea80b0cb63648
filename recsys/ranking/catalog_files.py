"""A Catalog as a folder of `.npy` files that any number of processes map read-only.

Every server worker used to hold its own copy of the item-side arrays; written once as files
and mapped with `np.load(mmap_mode="r")`, the page cache holds one copy per host and each
worker's mapping points at it. The layout is generic over the dataclass's fields, so adding a
field to `Catalog` (or to `Csr` / `SessionIndex`) needs no change here:

- a numeric numpy array -> `<field>.npy`, mapped read-only (shared between processes);
- a nested dataclass (Csr, SessionIndex) -> its fields as `<field>.<sub>.npy`;
- `dict[int, array]` (category_popular) -> `<field>.keys/indptr/values.npy`; the dict is
  rebuilt per process but its values are views into the shared mapping;
- an object array of str / None (item_ids, titles) -> `<field>.offsets/utf8/nulls.npy`,
  decoded into Python strings per process: the id -> index dict needs Python str keys, and
  a dict cannot live in a shared mapping, so these stay per process (about 10 MB of the
  catalog at 200k items, see README);
- `list[str]` and `datetime` -> values in `manifest.json`;
- fields starting with `_` are derived from the others (`Catalog.with_indexes`) and not written.

`manifest.json` lists every file with its byte size and crc32; `read_catalog` checks both
(and the header's dtype and shape) before it maps anything, so a torn or altered file is
refused, never served.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import typing
import zlib
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from recsys.ranking.catalog import Catalog

MANIFEST = "manifest.json"
FORMAT = 1
_CHUNK = 1 << 20


class CatalogFileError(ValueError):
    """A catalog folder is incomplete, altered or of another format."""


def write_catalog(catalog: Catalog, folder: Path) -> Path:
    """Write `catalog` as `folder` (which must not exist) in one atomic rename.

    Files go into a temporary sibling folder, each fsynced, the manifest last; the folder
    is renamed into place only when complete, so a reader sees the whole version or none.

    Raises:
        FileExistsError: `folder` is already there (versions are written once).
    """
    if folder.exists():
        raise FileExistsError(f"{folder}: catalog version already written; versions are immutable")
    tmp = folder.with_name(f".tmp-{folder.name}-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        files: dict[str, dict[str, Any]] = {}
        values: dict[str, Any] = {}
        _write_fields(catalog, "", tmp, files, values)
        manifest = {"format": FORMAT, "values": values, "files": files}
        _write_synced(tmp / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True).encode())
        _fsync_dir(tmp)
        tmp.rename(folder)
        _fsync_dir(folder.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def read_catalog(folder: Path) -> Catalog:
    """Map the catalog in `folder` read-only after checking every file against the manifest.

    Raises:
        CatalogFileError: The manifest is missing or unreadable, of another format, or a file
            is missing, of another size or crc32, or its array header disagrees.
    """
    manifest = _manifest(folder)
    for name, meta in manifest["files"].items():
        _verify(folder / name, meta)
    arrays: dict[str, np.ndarray] = {}
    for name, meta in manifest["files"].items():
        try:
            array = np.load(folder / name, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as exc:  # deleted (pruned) or damaged since the check
            raise CatalogFileError(f"{folder / name}: cannot map it ({exc})") from exc
        if str(array.dtype) != meta["dtype"] or list(array.shape) != meta["shape"]:
            raise CatalogFileError(
                f"{folder / name}: header says {array.dtype}{list(array.shape)}, the manifest "
                f"{meta['dtype']}{meta['shape']}; the folder is damaged: delete it to rebuild"
            )
        # a plain ndarray view of the mapping: numba types np.memmap as any other array
        arrays[name.removesuffix(".npy")] = np.asarray(array)
    built = _read_fields(Catalog, "", arrays, manifest["values"], folder)
    return built.with_indexes()


def files_bytes(folder: Path) -> int:
    """Bytes the catalog's arrays take on disk (and in the page cache once mapped)."""
    return sum(meta["bytes"] for meta in _manifest(folder)["files"].values())


# -- writing ------------------------------------------------------------------------------


def _write_fields(
    obj: Any, prefix: str, folder: Path, files: dict[str, Any], values: dict[str, Any]
) -> None:
    for spec in dataclasses.fields(obj):
        if spec.name.startswith("_"):
            continue  # derived from the other fields in every process
        name = prefix + spec.name
        value = getattr(obj, spec.name)
        if isinstance(value, np.ndarray) and value.dtype != object:
            _write_array(folder, name, value, files)
        elif isinstance(value, np.ndarray):
            _write_strings(folder, name, value, files)
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            _write_fields(value, name + ".", folder, files, values)
        elif isinstance(value, dict):
            _write_int_dict(folder, name, value, files)
        elif isinstance(value, datetime):
            values[name] = {"datetime": value.isoformat()}
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            values[name] = {"strings": value}
        else:
            raise TypeError(
                f"catalog field {name}: a {type(value).__name__} has no file layout; use a "
                "numpy array, a dataclass of them, dict[int, array], list[str] or datetime, "
                "or add a layout to recsys/ranking/catalog_files.py"
            )


def _write_array(folder: Path, name: str, array: np.ndarray, files: dict[str, Any]) -> None:
    path = folder / f"{name}.npy"
    with path.open("wb") as handle:
        np.save(handle, np.ascontiguousarray(array), allow_pickle=False)
        handle.flush()
        os.fsync(handle.fileno())
    files[path.name] = {
        "bytes": path.stat().st_size,
        "crc32": _crc32(path),
        "dtype": str(array.dtype),
        "shape": list(array.shape),
    }


def _write_strings(folder: Path, name: str, array: np.ndarray, files: dict[str, Any]) -> None:
    nulls = np.fromiter((v is None for v in array), bool, count=len(array))
    encoded = [b"" if v is None else str(v).encode() for v in array]
    offsets = np.zeros(len(encoded) + 1, np.int64)
    np.cumsum([len(e) for e in encoded], out=offsets[1:])
    utf8 = np.frombuffer(b"".join(encoded), np.uint8)
    _write_array(folder, f"{name}.offsets", offsets, files)
    _write_array(folder, f"{name}.utf8", utf8, files)
    _write_array(folder, f"{name}.nulls", nulls, files)


def _write_int_dict(folder: Path, name: str, value: dict[Any, Any], files: dict[str, Any]) -> None:
    if not all(isinstance(k, int) and isinstance(v, np.ndarray) for k, v in value.items()):
        raise TypeError(f"catalog field {name}: expected dict[int, numpy array]")
    keys = np.array(sorted(value), np.int64)
    parts = [np.asarray(value[int(k)]) for k in keys]
    indptr = np.zeros(len(parts) + 1, np.int64)
    np.cumsum([len(p) for p in parts], out=indptr[1:])
    dtype = parts[0].dtype if parts else np.dtype(np.int32)
    flat = np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)
    _write_array(folder, f"{name}.keys", keys, files)
    _write_array(folder, f"{name}.indptr", indptr, files)
    _write_array(folder, f"{name}.values", flat, files)


# -- reading ------------------------------------------------------------------------------


def _read_fields(
    cls: type, prefix: str, arrays: dict[str, np.ndarray], values: dict[str, Any], folder: Path
) -> Any:
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for spec in dataclasses.fields(cls):
        if spec.name.startswith("_"):
            continue
        name = prefix + spec.name
        hint = hints[spec.name]
        if name in arrays:
            kwargs[spec.name] = arrays[name]
        elif f"{name}.utf8" in arrays:
            kwargs[spec.name] = _decode_strings(arrays, name)
        elif f"{name}.keys" in arrays:
            keys, indptr, flat = (arrays[f"{name}.{p}"] for p in ("keys", "indptr", "values"))
            kwargs[spec.name] = {
                int(k): flat[indptr[i] : indptr[i + 1]] for i, k in enumerate(keys)
            }
        elif name in values and "datetime" in values[name]:
            kwargs[spec.name] = datetime.fromisoformat(values[name]["datetime"])
        elif name in values and "strings" in values[name]:
            kwargs[spec.name] = list(values[name]["strings"])
        elif isinstance(hint, type) and dataclasses.is_dataclass(hint):
            kwargs[spec.name] = _read_fields(hint, name + ".", arrays, values, folder)
        else:
            raise CatalogFileError(
                f"{folder / MANIFEST}: no file or value for catalog field {name}; the folder "
                "was written by another version of the code: delete it to rebuild"
            )
    return cls(**kwargs)


def _decode_strings(arrays: dict[str, np.ndarray], name: str) -> np.ndarray:
    offsets, nulls = arrays[f"{name}.offsets"], arrays[f"{name}.nulls"]
    data = arrays[f"{name}.utf8"].tobytes()
    bounds = offsets.tolist()
    out = np.empty(len(nulls), object)
    out[:] = [
        None if null else data[bounds[i] : bounds[i + 1]].decode()
        for i, null in enumerate(nulls.tolist())
    ]
    return out


def _manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise CatalogFileError(
            f"{path}: cannot read the catalog manifest ({exc}); delete the folder to rebuild"
        ) from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise CatalogFileError(f"{path}: expected catalog format {FORMAT}, found {found}")
    return manifest


def _verify(path: Path, meta: dict[str, Any]) -> None:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise CatalogFileError(f"{path}: listed in the manifest but unreadable ({exc})") from exc
    if size != meta["bytes"]:
        raise CatalogFileError(f"{path}: expected {meta['bytes']} bytes, found {size}")
    crc = _crc32(path)
    if crc != meta["crc32"]:
        raise CatalogFileError(f"{path}: expected crc32 {meta['crc32']}, found {crc}")


def _crc32(path: Path) -> int:
    crc = 0
    # read through the file, not a mapping: checking must not count as the reader's memory
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            crc = zlib.crc32(chunk, crc)
    return crc


def _write_synced(path: Path, data: bytes) -> None:
    with path.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
