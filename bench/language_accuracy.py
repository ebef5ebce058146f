"""How well the lead's language is detected on the curated corpus (tests/data/person_requests.yaml,
commands left out): lingua at several `MIN_DISTANCE`s, the detector in use
(`domain.language.detect_language`), and optionally another detector module to compare, such as
the hand-written one lingua replaced:

    git show 8e5447c:domain/language.py > /tmp/old_language.py
    uv run python -m bench.language_accuracy --old /tmp/old_language.py

Not a `bench_*` module: `make bench` measures speed; this is run when the detector is tuned.
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import yaml
from lingua import IsoCode639_1, LanguageDetectorBuilder

from domain.language import detect_language
from domain.texts import LANGUAGES

CORPUS = Path(__file__).parent.parent / "tests" / "data" / "person_requests.yaml"

Detector = Callable[[str], "str | None"]


def _lingua(distance: float) -> Detector:
    codes = [IsoCode639_1.from_str(language) for language in LANGUAGES]
    detector = (
        LanguageDetectorBuilder.from_iso_codes_639_1(*codes)
        .with_minimum_relative_distance(distance)
        .with_preloaded_language_models()
        .build()
    )

    def detect(text: str) -> str | None:
        found = detector.detect_language_of(text)
        return found.iso_code_639_1.name.lower() if found is not None else None

    return detect


def _module(path: Path) -> Detector:
    spec = importlib.util.spec_from_file_location("other_detector", path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    detect: Detector = module.detect_language
    return detect


def _report(name: str, detect: Detector, corpus: list[tuple[str, str]]) -> None:
    right: Counter[str] = Counter()
    total: Counter[str] = Counter()
    undecided = wrong = 0
    started = time.perf_counter()
    for language, text in corpus:
        found = detect(text)
        total[language] += 1
        right[language] += found == language
        undecided += found is None
        wrong += found not in (language, None)
    ms = (time.perf_counter() - started) * 1000 / len(corpus)
    count = sum(right.values())
    print(  # noqa: T201 - the command's output
        f"{name}: {count}/{len(corpus)} = {count / len(corpus):.1%} right, {undecided} undecided, "
        f"{wrong} wrong, {ms:.2f} ms/message\n   "
        + ", ".join(f"{lang} {right[lang]}/{total[lang]}" for lang in total)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--old", type=Path, help="a module file with detect_language(text)")
    args = parser.parse_args()
    data = yaml.safe_load(CORPUS.read_text())
    corpus = [
        (language, text)
        for language, sets in data.items()
        for text in sets["positive"] + sets["negative"]
        if not text.startswith("/")
    ]
    if args.old:
        _report(f"{args.old}", _module(args.old), corpus)
    for distance in (0.0, 0.1, 0.25):
        _report(f"lingua, minimum relative distance {distance}", _lingua(distance), corpus)
    _report("domain.language.detect_language", detect_language, corpus)


if __name__ == "__main__":
    main()
