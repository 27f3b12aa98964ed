"""MovieLens: loaders for every classic layout and a checksummed downloader.

MovieLens data is distributed by GroupLens under terms that forbid redistribution, so turborec
never ships it: :func:`download_movielens` fetches it (or uses a zip you placed by hand) and
:func:`load_movielens` reads any of the classic layouts.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import zipfile
from pathlib import Path


from .interactions import Interactions

_BASE_URL = "https://files.grouplens.org/datasets/movielens/"
# sha256 of the GroupLens zips we know; None: unknown, only checked to be a readable zip.
MOVIELENS_SHA256 = {
    "ml-latest-small": "696d65a3dfceac7c45750ad32df2c259311949efec81f0f144fdfb91ebc9e436",
    "ml-100k": None,
    "ml-1m": None,
    "ml-10m": None,
    "ml-20m": None,
    "ml-25m": None,
    "ml-32m": None,
    "ml-latest": None,
}
_RATINGS_FILES = ("ratings.csv", "ratings.dat", "u.data")


def _find_ratings(directory: Path):
    for name in _RATINGS_FILES:
        if (directory / name).is_file():
            return directory / name
    return None


def movielens_path(name) -> Path:
    """The directory of a known MovieLens data set (``"ml-latest-small"``, ...): ``name`` as a path
    if it exists, else ``$TURBOREC_DATASETS/<name>``, else the download cache
    ``~/.cache/turborec/datasets/<name>``. FileNotFoundError says where it looked and how to get it."""
    p = Path(os.fspath(name))
    if p.exists() or str(name) not in MOVIELENS_SHA256:
        return p
    looked = []
    env = os.environ.get("TURBOREC_DATASETS")
    for root in ([Path(env)] if env else []) + [Path.home() / ".cache" / "turborec" / "datasets"]:
        candidate = root / _ZIP_DIRS.get(str(name), str(name))
        if candidate.is_dir():
            return candidate
        looked.append(str(candidate))
    raise FileNotFoundError(f"MovieLens {name!r} not found: looked in ./{name}, {', '.join(looked)}; "
                            f"run turborec.download_movielens({str(name)!r}) or set TURBOREC_DATASETS to the "
                            "folder that holds it")


def load_movielens(path):
    """Load MovieLens ratings (explicit, with int64 Unix-second timestamps).

    Parameters
    ----------
    path : str or Path
        A known data set's name (``"ml-latest-small"``: found by :func:`movielens_path` under
        ``$TURBOREC_DATASETS`` or the download cache), a directory holding one of the ratings
        files, or the file itself:

        * ml-latest-small / ml-latest / ml-20m / ml-25m / ml-32m: ``ratings.csv`` (header
          ``userId,movieId,rating,timestamp``; half-star ratings);
        * ml-1m / ml-10m: ``ratings.dat`` (``user::movie::rating::timestamp``, no header);
        * ml-100k: ``u.data`` (tab separated ``user item rating timestamp``, no header).

        The format is recognised from the file's first line; CRLF line endings are fine.

    Returns
    -------
    Interactions
        Raw ids are MovieLens userId / movieId (ints, sorted: dense ids follow raw id order).
    """
    p = movielens_path(path)
    if p.is_dir():
        f = _find_ratings(p)
        if f is None:
            raise FileNotFoundError(f"no MovieLens ratings file ({', '.join(_RATINGS_FILES)}) in {str(p)!r}")
    elif p.is_file():
        f = p
    else:
        raise FileNotFoundError(f"path {str(p)!r} does not exist")
    with open(f, "rb") as fh:
        first = fh.readline(4096).rstrip(b"\r\n")
    if first.replace(b" ", b"").lower().startswith(b"userid,movieid,rating,timestamp"):
        return Interactions.from_csv(f, "userId", "movieId", "rating", "timestamp")
    if first.count(b"::") == 3:
        return Interactions.from_csv(f, 0, 1, 2, 3, sep="::", header=False)
    fields = first.split(b"\t")
    if len(fields) == 4 and all(x.strip().replace(b".", b"", 1).isdigit() for x in fields):
        return Interactions.from_csv(f, 0, 1, 2, 3, sep="\t", header=False)
    raise ValueError(
        f"{str(f)!r} is not a MovieLens ratings file: expected ratings.csv (userId,movieId,rating,timestamp), "
        f"ratings.dat (user::movie::rating::timestamp) or u.data (tab separated); first line is {first[:80]!r}"
    )


def _default_dest() -> Path:
    env = os.environ.get("TURBOREC_DATASETS")
    return Path(env) if env else Path.home() / ".cache" / "turborec" / "datasets"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


_ZIP_DIRS = {"ml-10m": "ml-10M100K"}  # zips that do not unpack to <name>/


def _extracted_dir(dest: Path, name: str):
    """The extracted directory of a dataset, if it is there with its ratings file."""
    d = dest / _ZIP_DIRS.get(name, name)
    return d if d.is_dir() and _find_ratings(d) is not None else None


def _safe_extract(zf: zipfile.ZipFile, dest: Path):
    root = dest.resolve()
    for member in zf.infolist():
        target = (dest / member.filename).resolve()
        if target != root and root not in target.parents:
            raise ValueError(f"refusing to extract {member.filename!r}: it points outside {str(dest)!r}")
    zf.extractall(dest)


def _download(url: str, target: Path, timeout: float):
    import urllib.error
    import urllib.request

    part = target.with_name(target.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(part, "wb") as out:
            shutil.copyfileobj(response, out, 1 << 20)
    except (urllib.error.URLError, OSError, TimeoutError) as e:
        part.unlink(missing_ok=True)
        raise ConnectionError(
            f"could not download {url}: {e}. If this machine is offline, download the zip elsewhere "
            f"and copy it to {str(target)!r} (or extract it into {str(target.parent)!r}), then call "
            "download_movielens again, or call load_movielens on the extracted directory."
        ) from e
    part.replace(target)


def download_movielens(name="ml-latest-small", dest=None, *, timeout=60.0):
    """Download and extract a MovieLens dataset from GroupLens; returns the extracted directory.

    Nothing is downloaded when the extracted directory already exists, or when ``<dest>/<name>.zip``
    is already there (e.g. copied by hand on an offline machine): that zip is verified and
    extracted. MovieLens may not be redistributed; turborec never bundles it.

    Parameters
    ----------
    name : str
        One of ``ml-latest-small``, ``ml-latest``, ``ml-100k``, ``ml-1m``, ``ml-10m``, ``ml-20m``,
        ``ml-25m``, ``ml-32m``; fetched from ``https://files.grouplens.org/datasets/movielens/<name>.zip``.
    dest : str or Path, optional
        Where to put the zip and the extracted directory. Default: ``$TURBOREC_DATASETS`` or
        ``~/.cache/turborec/datasets``.
    timeout : float
        Seconds to wait for the server.

    Returns
    -------
    pathlib.Path
        The extracted directory (pass it to :func:`load_movielens`).

    Raises
    ------
    ConnectionError
        The download failed (offline, proxy, server down); the message says where to place the
        file by hand.
    ValueError
        The zip's sha256 does not match the known one (only ml-latest-small's checksum is known;
        other zips are only checked to be readable), or it is not a zip file.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    if name not in MOVIELENS_SHA256:
        raise ValueError(f"name must be one of {sorted(MOVIELENS_SHA256)}, got {name!r}")
    dest = _default_dest() if dest is None else Path(os.fspath(dest))
    found = _extracted_dir(dest, name)
    if found is not None:
        return found
    dest.mkdir(parents=True, exist_ok=True)
    zip_path = dest / f"{name}.zip"
    downloaded = False
    if not zip_path.is_file():
        _download(_BASE_URL + f"{name}.zip", zip_path, timeout)
        downloaded = True
    expected = MOVIELENS_SHA256[name]
    if expected is not None:
        actual = _sha256(zip_path)
        if actual != expected:
            if downloaded:
                zip_path.unlink()
            raise ValueError(f"{str(zip_path)!r} has sha256 {actual}, expected {expected}: the file is corrupt "
                             "or not the GroupLens release" + ("" if downloaded else "; delete it and retry"))
    if not zipfile.is_zipfile(zip_path):
        if downloaded:
            zip_path.unlink()
        raise ValueError(f"{str(zip_path)!r} is not a readable zip file (checksum unknown for {name}, so "
                         "only the zip structure is verified)")
    with zipfile.ZipFile(zip_path) as zf:
        bad = zf.testzip()
        if bad is not None:
            raise ValueError(f"{str(zip_path)!r} is corrupt: member {bad!r} fails its CRC check")
        _safe_extract(zf, dest)
    found = _extracted_dir(dest, name)
    if found is None:
        raise ValueError(f"{str(zip_path)!r} does not contain a MovieLens ratings file")
    return found
