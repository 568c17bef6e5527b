"""The argparse commands' command lines: one parser whose bad input is one line, and the arguments they share.

    python -m stylometry.attribute multirun/corpus/paper letter.txt --excerpt-tokens 256,1024 --out attribution/a
    python -m stylometry.analyze multirun/corpus/paper --baselines --excerpt-tokens 256,1024 --out analysis/a

(The Hydra commands, train and status's plan, take overrides: stylometry.config.compose.)
"""

import argparse
import sys

from stylometry.config.schema import ConfigError


class CommandParser(argparse.ArgumentParser):
    """argparse's parser, but a bad command line is one line on stderr, `error: <what> (<usage line>)`, and exit 2,
    as every other bad input of a command (argparse's own prints its usage, then `<prog>: error: <what>`)."""

    def __init__(self, *args, usage_line: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.usage_line = usage_line  # one line; --help still shows argparse's full usage

    def error(self, message: str):
        print(f"error: {message} ({self.usage_line})", file=sys.stderr)
        raise SystemExit(2)


def excerpt_lengths(value: str) -> list[int]:
    """`--excerpt-tokens 256,1024,4096` as sorted distinct lengths ("" is none); a ConfigError for a part that is
    not a whole number of at least 2 tokens (one to predict)."""
    lengths = set()
    for part in filter(None, value.split(",")):
        if not part.strip().isdecimal() or int(part) < 2:
            raise ConfigError(
                f"--excerpt-tokens {value}: each length is a whole number of tokens, at least 2 "
                "(one to predict), e.g. 256,1024,4096"
            )
        lengths.add(int(part))
    return sorted(lengths)
