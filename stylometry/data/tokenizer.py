"""The tokenizer a run reads its text with: loaded once per process (by folder or hub name), recorded in the
manifest, and fingerprinted so that cached tokens follow the tokenizer, not its name."""

import hashlib
from pathlib import Path
from typing import Dict, List

from stylometry.config.schema import ConfigError, first_line

# The tokenizers this process has loaded, by folder and its files' sizes and times (or by hub name): loading GPT-2's
# takes 0.35-0.7 s here (transformers parses its 3.5 MB tokenizer.json several times), once per job of a sweep run in
# one process and twice per `attribute`. Only read after loading: nothing here changes a tokenizer.
_LOADED_TOKENIZERS: Dict[tuple, object] = {}


def load_tokenizer(name: str):
    path = Path(name).expanduser()
    if not path.is_dir():
        if name.startswith((".", "/", "~")):
            raise ConfigError(
                f"data.tokenizer={name}: no such folder; point it at a tokenizer folder (vocab.json, merges.txt)"
            )
        key, where = (name,), name  # a hub name
    else:
        files = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in path.iterdir() if p.is_file())
        key, where = (str(path.resolve()), tuple(files)), str(path)
    if key not in _LOADED_TOKENIZERS:
        _LOADED_TOKENIZERS[key] = _read_tokenizer(name, where)
    return _LOADED_TOKENIZERS[key]


def _read_tokenizer(name: str, where: str):
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(where)
    except OSError as error:
        raise ConfigError(
            f"data.tokenizer={name}: cannot load a tokenizer ({first_line(error)}); "
            "set data.tokenizer (or STYLOMETRY_TOKENIZER) to a local tokenizer folder"
        ) from None


def tokenizer_record(name: str) -> Dict:
    """Which tokenizer a run loaded: the name it was given, the folder it resolved to and a hash of its files
    (null for a hub name, loaded from the local Hugging Face cache)."""
    path = Path(name).expanduser()
    if not path.is_dir():
        return {"name": name, "path": None, "files_sha256": None}
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(f"{file.relative_to(path)}:{hashlib.sha256(file.read_bytes()).hexdigest()}\n".encode())
    return {"name": name, "path": str(path.resolve()), "files_sha256": digest.hexdigest()}


def tokenizer_fingerprint(tokenizer) -> str:
    """A hash of the tokenizer's vocabulary and rules, so cached tokens follow the tokenizer, not its name."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    spec = backend.to_str() if backend is not None else repr(sorted(tokenizer.get_vocab().items()))
    return hashlib.sha256(spec.encode()).hexdigest()[:16]


def encode(tokenizer, text: str) -> List[int]:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:  # the Rust tokenizer directly: no length warnings, no special tokens
        return backend.encode(text, add_special_tokens=False).ids
    return tokenizer.encode(text, add_special_tokens=False)
