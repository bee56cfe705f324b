#!/usr/bin/env bash
# The version floors of pyproject.toml, proven: a venv of its own, without torch, gets exactly
# the lowest version each floor allows of every package the torch-free half imports (suite,
# records, analysis, report, gate, the registries: [tool.mypy] files), and the torch-free
# tests run there. A floor below what the code calls fails here instead of on a user's machine.
# About 1.5 minutes on 2 cores with pip's cache warm.
set -euo pipefail
cd "$(dirname "$0")/.."

# What the torch-free half and its tests import, as pyproject.toml names them; each must have
# a ">=" floor there (in the dependencies or an extra).
PACKAGES=(pydantic pyyaml numpy scipy pandas pyarrow jinja2 markupsafe click filelock rouge-score sacrebleu
          scikit-learn huggingface-hub pytest hypothesis)

# Test files that run without torch, transformers, peft, datasets and trl (each was run in such
# a venv). A test file that starts importing them fails here: move it out of this list.
TESTS=(
    tests/architecture/test_torch_free.py
    tests/test_spec.py tests/test_plan.py tests/test_results.py tests/test_registry.py
    tests/run/test_dry_run.py tests/run/test_memory_and_progress.py tests/test_ls_results.py
    tests/gate/test_gate_check.py tests/gate/test_gate_files.py
    tests/report/test_answer.py tests/report/test_leaderboard_formats.py tests/report/test_leaderboard_html.py
    tests/report/test_leaderboard_preference.py tests/report/test_leaderboard_table.py
    tests/report/test_report_search_budget_templates.py
    tests/stats/test_stats_compare.py tests/stats/test_stats_choice.py
    tests/metrics/test_stats.py tests/metrics/test_text.py tests/metrics/test_metrics_preference.py
    tests/evaluate/test_eval_validate.py tests/evaluate/test_eval_choice_metrics.py
    tests/data/test_data_templates.py
    tests/reliability/test_fuzz_suites.py tests/reliability/test_fuzz_found.py tests/reliability/test_fuzz_data.py
)
# Tests in those files that cannot run here: one needs peft.
DESELECT=(
    tests/test_spec.py::test_lora_passes_unknown_keys_to_peft_only_if_it_has_them
)
# Fewer tests run than this means the selection fell apart (files renamed, tests skipped): fail.
MIN_TESTS=300

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
# This machine's pip config names local indexes that lack most packages; pip says so per package.
quiet() { "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2); }

python3 - "$WORK/floors.txt" "${PACKAGES[@]}" <<'PY'
import re
import sys
import tomllib

def norm(name):
    return re.sub(r"[-_.]+", "-", name).lower()

project = tomllib.load(open("pyproject.toml", "rb"))["project"]
floors = {}
for req in project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]:
    name, spec = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*([^;]*)", req).groups()
    floor = re.search(r">=\s*([^,\s]+)", spec)
    if floor:
        floors.setdefault(norm(name), floor.group(1))
missing = [p for p in sys.argv[2:] if norm(p) not in floors]
if missing:
    sys.exit(f"minimum versions: no >= floor in pyproject.toml for {', '.join(missing)}")
pins = [f"{p}=={floors[norm(p)]}" for p in sys.argv[2:]]
open(sys.argv[1], "w").write("\n".join(pins) + "\n")
print("minimum versions:", " ".join(pins))
PY

python3 -m venv "$WORK/venv"
PY="$WORK/venv/bin/python"
quiet "$PY" -m pip install -q --disable-pip-version-check -r "$WORK/floors.txt"
quiet "$PY" -m pip install -q --disable-pip-version-check --no-deps -e .
"$PY" - <<'PY'
import importlib.util
import sys

heavy = [m for m in ("torch", "transformers", "peft", "datasets", "trl", "bitsandbytes") if importlib.util.find_spec(m)]
if heavy:
    sys.exit(f"minimum versions: {', '.join(heavy)} got installed; this venv must stay torch-free")
PY

# No browser and no smoke run here: these tests need neither.
env -u HARNESS_REQUIRE_BROWSER -u HARNESS_SMOKE_RESULTS \
    "$PY" -m pytest -q -p no:cacheprovider -o addopts="-ra --strict-markers" --junitxml="$WORK/junit.xml" \
    "${TESTS[@]}" "${DESELECT[@]/#/--deselect=}"

python3 - "$WORK/junit.xml" "$MIN_TESTS" <<'PY'
import sys
import xml.etree.ElementTree as ET

root = ET.parse(sys.argv[1]).getroot()
suite = root if root.tag == "testsuite" else root.find("testsuite")
ran = int(suite.get("tests")) - int(suite.get("skipped"))
if ran < int(sys.argv[2]):
    sys.exit(f"minimum versions: only {ran} tests ran at the floors, expected at least {sys.argv[2]}")
print(f"minimum versions: {ran} tests passed at the floors")
PY
