"""Coverage-guided fuzzing of the front ends with atheris (libFuzzer), complementing the
random/mutational campaign of `benchmarks/fuzz_long.py`.

    pip install atheris
    python benchmarks/fuzz_atheris.py regex -atheris_runs=200000 -max_total_time=600
    python benchmarks/fuzz_atheris.py json_schema -max_total_time=600 -timeout=30
    python benchmarks/fuzz_atheris.py lark -max_total_time=600

Targets: `regex` (the bytes as a pattern), `json_schema` (the bytes as JSON text; valid JSON is
compiled as a schema), `lark` and `gbnf` (the bytes as grammar text), each seeded with the
corpus inputs of `tests/fuzz_inputs.py`. The property is `fuzz_inputs.check_case`: compile and
walk, or a `GrammaskError`. Anything else propagates, and libFuzzer stops with the input saved
as `crash-<sha1>`; `-timeout=N` turns a case slower than N seconds into a finding too.
"""
from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import atheris

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

with atheris.instrument_imports(include=["grammask"]):
    import grammask  # noqa: F401
    import fuzz_inputs as fz


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def target(kind: str):
    def one(data: bytes) -> None:
        if kind == "regex":
            fz.check_case("regex", _text(data)[:400])
        elif kind == "json_schema":
            try:
                schema = json.loads(data)
            except (ValueError, RecursionError):
                return
            fz.check_case("json_schema", schema)
        else:
            fz.check_case(kind, _text(data)[:4000])
    return one


def seeds(kind: str) -> Path:
    d = Path(tempfile.mkdtemp(prefix=f"atheris-{kind}-"))
    base = "regex" if kind == "regex" else ("json_schema" if kind == "json_schema" else kind)
    for i, item in enumerate(fz.corpus(base)[:300]):
        text = item if isinstance(item, str) else json.dumps(item)
        (d / f"seed{i}").write_bytes(text.encode("utf-8", "surrogatepass"))
    return d


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in ("regex", "json_schema", "lark", "gbnf"):
        sys.exit(__doc__)
    kind = sys.argv.pop(1)
    corpus_dir = seeds(kind)
    atheris.Setup([sys.argv[0], str(corpus_dir)] + sys.argv[1:], target(kind))
    atheris.Fuzz()


if __name__ == "__main__":
    main()
