"""Write a variant of the whole corpus (content words, function words or part-of-speech tags), for reading.

    python -m stylometry.variants variant=content out=/tmp/content_only [data.root=/path/to/corpus]

The transforms themselves, which training applies to one book at a time, are stylometry/data/variants.py.
"""

import sys
import time
from pathlib import Path
from typing import List, Optional

from stylometry.config.schema import ConfigError, first_line
from stylometry.data.variants import build_transform, transform_key, write_variant_corpus


def main(argv: Optional[List[str]] = None) -> None:
    """`variant=<name> out=<dir>` plus any overrides of conf/train.yaml (e.g. data.root=...); ConfigError for bad
    input."""
    from omegaconf import OmegaConf

    from stylometry.config.compose import compose

    args = sys.argv[1:] if argv is None else argv
    outs = [arg.split("=", 1)[1] for arg in args if arg.startswith("out=")]
    overrides = [arg for arg in args if not arg.startswith("out=")]
    if len(outs) != 1 or not outs[0]:
        raise ConfigError(
            "usage: python -m stylometry.variants variant=<name> out=<dir> [data.root=<corpus>] "
            "[other overrides of conf/train.yaml]"
        )
    cfg = compose("train", ["~author", *overrides])  # this command is about no author: the entry is deleted
    try:  # typed once, here, with the schema's checks
        variant_cfg = OmegaConf.to_object(cfg.variant)
    except ConfigError:
        raise
    except Exception as error:  # a MISSING value, an unset environment variable
        raise ConfigError(f"variant: {first_line(error)}") from None
    try:
        corpus_root = Path(cfg.data.root).expanduser()
    except Exception as error:  # typically STYLOMETRY_DATA unset
        raise ConfigError(
            f"data.root: {first_line(error)}; pass data.root=<corpus folder> or set STYLOMETRY_DATA"
        ) from None

    out_dir = Path(outs[0]).expanduser().resolve()
    started = time.perf_counter()
    transform = build_transform(variant_cfg)
    written = write_variant_corpus(transform, corpus_root, out_dir)
    num_bytes = sum(path.stat().st_size for path in written)
    print(
        f"variant {variant_cfg.name} ({transform_key(variant_cfg)}): {len(written)} books, "
        f"{num_bytes / 1e6:.1f} MB written to {out_dir} in {time.perf_counter() - started:.1f} s"
    )


if __name__ == "__main__":
    try:
        main()
    except ConfigError as error:  # a config that cannot work: its one-line message, not a traceback
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
