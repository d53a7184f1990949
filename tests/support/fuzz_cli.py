"""Random bytes and random YAML into `rmn plan`, `rmn harmonize` and the config loader, under a memory cap.

Run as a script (the memory cap is a process limit, so it gets a process of its own):

    python tests/support/fuzz_cli.py EXAMPLES DATA_DIR

Prints one JSON line: examples run per target, the exit codes seen, and every failure (a traceback
in the output, an exception that escaped, an undocumented exit code). Hypothesis draws the inputs.
"""

from __future__ import annotations

import json
import resource
import sys
import tempfile
from collections import Counter
from pathlib import Path

MEMORY_CAP_BYTES = 6 * 1024**3  # address space: torch maps a lot, a bomb would need far more
DOCUMENTED_EXIT_CODES = {0, 1, 2, 3, 4}


def main(examples: int, data_dir: Path) -> dict[str, object]:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP_BYTES, MEMORY_CAP_BYTES))
    import yaml
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
    from typer.testing import CliRunner

    from rmnlora.cli import app
    from rmnlora.config import ConfigError, load_settings

    runner = CliRunner()
    env = {"RMN_DATA_DIR": str(data_dir), "RMN_MODEL__ENABLED": "false"}
    codes: dict[str, Counter[int]] = {"plan": Counter(), "harmonize": Counter(), "config": Counter()}
    failures: list[str] = []
    scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40)
    yaml_trees = st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5)
        ),
        max_leaves=30,
    )
    documents = st.binary(max_size=2_000) | yaml_trees.map(lambda t: yaml.safe_dump(t).encode())
    folder = Path(tempfile.mkdtemp())

    def check(target: str, args: list[str]) -> None:
        result = runner.invoke(app, args, env=env)
        codes[target][result.exit_code] += 1
        escaped = result.exception is not None and not isinstance(result.exception, SystemExit)
        if escaped or "Traceback" in result.output or result.exit_code not in DOCUMENTED_EXIT_CODES:
            failures.append(
                f"{target} exit {result.exit_code}: {result.exception!r} {result.output[-300:]!r}"
            )

    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(documents)
    def fuzz_plan(content: bytes) -> None:
        brief = folder / "brief.yaml"
        brief.write_bytes(content)
        check("plan", ["plan", str(brief)])

    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(st.binary(max_size=4_000), st.sampled_from(["walmart", "amazon", "kroger"]))
    def fuzz_harmonize(content: bytes, retailer: str) -> None:
        export = folder / "export.csv"
        export.write_bytes(content)
        check("harmonize", ["harmonize", str(export), "--retailer", retailer, "--out", str(folder / "out")])

    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(documents)
    def fuzz_config(content: bytes) -> None:
        config = folder / "config.yaml"
        config.write_bytes(content)
        try:
            load_settings(config)
            codes["config"][0] += 1
        except ConfigError:
            codes["config"][2] += 1
        except Exception as exc:  # the loader's contract: ConfigError or settings
            failures.append(f"config: {exc!r}")

    for fuzz in (fuzz_plan, fuzz_harmonize, fuzz_config):
        fuzz()
    return {"codes": {k: dict(v) for k, v in codes.items()}, "failures": failures[:20]}


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]), Path(sys.argv[2]))))
