"""Where dataset files are found: explicit path, env var, Keras cache, download (private)."""

import os
import pathlib

import keras

ENV_VAR = "KERAS_RDKL_DATA"
CACHE_SUBDIR = "keras_rdkl"


def keras_cache_dir():
    """The Keras cache root: `$KERAS_HOME`, else `~/.keras` (as Keras does)."""
    return pathlib.Path(
        os.path.expanduser(os.environ.get("KERAS_HOME", os.path.join("~", ".keras")))
    )


def cache_dir(folder):
    """Where downloads of dataset `folder` go: `<keras cache>/datasets/keras_rdkl/`."""
    return keras_cache_dir() / "datasets" / CACHE_SUBDIR / folder


def candidate_dirs(folder):
    """Folders searched, in order, for the files of dataset `folder`."""
    dirs = []
    env = os.environ.get(ENV_VAR)
    if env:
        dirs.append(pathlib.Path(env).expanduser() / folder)
    dirs.append(cache_dir(folder))
    return dirs


def resolve_file(folder, fname, path=None, origin=None, file_hash=None):
    """Returns the local path of `fname` from dataset `folder`.

    Args:
        folder: The dataset's folder name, e.g. `"cluener2020"`.
        fname: The file name inside that folder.
        path: Optional user path: a file (used as is) or a folder holding
            `fname`. When given, nothing else is searched.
        origin: Public URL of the file, used with `keras.utils.get_file`
            when no local copy exists.
        file_hash: Optional sha256 of the file, checked after a download.

    Returns:
        A `pathlib.Path` to an existing file.
    """
    if path is not None:
        p = pathlib.Path(path).expanduser()
        if p.is_file():
            return p
        if (p / fname).is_file():
            return p / fname
        raise FileNotFoundError(
            f"`path` must be a file or a folder holding {fname!r}. Received: path={str(path)!r}"
        )
    dirs = candidate_dirs(folder)
    for d in dirs:
        if (d / fname).is_file():
            return d / fname
    cache_root = keras_cache_dir()
    where = "\n".join(f"  - {d / fname}" for d in dirs)
    if origin is None:
        raise FileNotFoundError(
            f"Could not find {fname!r} of dataset {folder!r}, and it has no public "
            f"download. Looked in:\n{where}\nPut the file in one of these places "
            f"(or set ${ENV_VAR} to a folder holding {folder}/{fname}), or pass `path=`."
        )
    try:
        local = keras.utils.get_file(
            fname=fname,
            origin=origin,
            file_hash=file_hash,
            cache_subdir=os.path.join("datasets", CACHE_SUBDIR, folder),
            cache_dir=str(cache_root),
        )
    except Exception as e:  # network down, proxy, bad hash ...
        raise FileNotFoundError(
            f"Could not find {fname!r} of dataset {folder!r} locally, and downloading "
            f"it from {origin} failed ({type(e).__name__}: {e}). Looked in:\n{where}\n"
            f"Download the file yourself and put it in one of these places (or set "
            f"${ENV_VAR} to a folder holding {folder}/{fname}), or pass `path=`."
        ) from e
    return pathlib.Path(local)


def check_split(split, allowed):
    """ValueError unless `split` is one of `allowed`."""
    if split not in allowed:
        raise ValueError(
            f"`split` must be one of {sorted(allowed)}. Received: split={split!r}"
        )
