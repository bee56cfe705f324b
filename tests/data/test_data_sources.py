"""Loading splits: every local format, slices, errors that name the place, fingerprints, hf parsing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness.data import sources
from harness.errors import HarnessError

SHARED_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
ROWS = [{"input": f"question {i}", "output": f"answer {i}"} for i in range(10)]


def write(path: Path, fmt: str, rows: list[dict]) -> Path:
    """Write rows in one format, by hand or with the format's usual tool, not with sources."""
    if fmt == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    elif fmt == "json":
        path.write_text(json.dumps(rows), encoding="utf-8")
    elif fmt in ("csv", "tsv"):
        sep = "," if fmt == "csv" else "\t"
        lines = [sep.join(rows[0])] + [sep.join(r.values()) for r in rows]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    elif fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), path)
    return path


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv", "tsv", "parquet"])
def test_every_format_reads_back_the_rows(tmp_path, fmt):
    write(tmp_path / f"data.{fmt}", fmt, ROWS)
    assert sources.load_split(f"data.{fmt}", "train", tmp_path) == ROWS
    assert sources.columns(f"data.{fmt}", "test", tmp_path) == {"input", "output"}


def test_json_with_a_data_key_and_parquet_nested_values(tmp_path):
    (tmp_path / "d.json").write_text(json.dumps({"data": ROWS[:2]}), encoding="utf-8")
    assert sources.load_split("d.json", "train", tmp_path) == ROWS[:2]
    nested = [{"input": "x", "references": ["a", "b"], "n": 3}]
    write(tmp_path / "n.parquet", "parquet", nested)
    assert sources.load_split("n.parquet", "train", tmp_path) == nested


def test_csv_keeps_strings_and_quoting(tmp_path):
    (tmp_path / "d.csv").write_text('text,label\n"a, quoted ""one""",01\nNA,\n', encoding="utf-8")
    assert sources.load_split("d.csv", "train", tmp_path) == [
        {"text": 'a, quoted "one"', "label": "01"},
        {"text": "NA", "label": ""},
    ]


def test_tsv_takes_quotes_literally(tmp_path):
    (tmp_path / "d.tsv").write_text('sentence\tlabel\n" a film " , he said\t1\n', encoding="utf-8")
    assert sources.load_split("d.tsv", "train", tmp_path) == [{"sentence": '" a film " , he said', "label": "1"}]


def test_relative_paths_resolve_from_base_dir_and_absolute_paths_stand(tmp_path):
    sub = tmp_path / "sub"
    sub.mkdir()
    path = write(sub / "d.jsonl", "jsonl", ROWS)
    assert sources.resolve_path("sub/d.jsonl", tmp_path) == path
    assert sources.resolve_path(str(path), Path("/elsewhere")) == path
    assert len(sources.load_split(str(path), "train", Path("/elsewhere"))) == 10


def test_slices_split_ten_rows_eight_and_two_without_overlap(tmp_path):
    write(tmp_path / "d.jsonl", "jsonl", ROWS)
    head = sources.load_split("d.jsonl", "train[:80%]", tmp_path)
    tail = sources.load_split("d.jsonl", "train[80%:]", tmp_path)
    assert (len(head), len(tail)) == (8, 2)
    assert head + tail == ROWS  # disjoint and together complete
    assert sources.load_split("d.jsonl", "validation[2:5]", tmp_path) == ROWS[2:5]
    assert sources.load_split("d.jsonl", "test[-3:]", tmp_path) == ROWS[7:]


def test_limit_applies_after_the_slice(tmp_path):
    write(tmp_path / "d.jsonl", "jsonl", ROWS)
    assert sources.load_split("d.jsonl", "train[5:]", tmp_path, limit=2) == ROWS[5:7]


def test_a_file_refuses_adding_splits(tmp_path):
    write(tmp_path / "d.jsonl", "jsonl", ROWS)
    with pytest.raises(HarnessError, match="one set of rows"):
        sources.load_split("d.jsonl", "train+test", tmp_path)


def test_bad_split_string(tmp_path):
    write(tmp_path / "d.jsonl", "jsonl", ROWS)
    with pytest.raises(HarnessError, match="split 'train\\[:80' is not valid"):
        sources.load_split("d.jsonl", "train[:80", tmp_path)


def test_malformed_jsonl_line_reports_its_line_number(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"input": "a"}\n\n{"input": "b"}\n{"input": \n', encoding="utf-8")
    with pytest.raises(HarnessError, match=r"d\.jsonl line 4: not valid JSON"):
        sources.load_split("d.jsonl", "train", tmp_path)


def test_non_object_rows_report_their_number(tmp_path):
    (tmp_path / "d.jsonl").write_text('{"a": 1}\n[1, 2]\n', encoding="utf-8")
    with pytest.raises(HarnessError, match=r"line 2: a row must be a JSON object, got list"):
        sources.load_split("d.jsonl", "train", tmp_path)
    (tmp_path / "d.json").write_text('[{"a": 1}, {"a": 2}, "three"]', encoding="utf-8")
    with pytest.raises(HarnessError, match=r"row 3: a row must be a JSON object, got str"):
        sources.load_split("d.json", "train", tmp_path)


def test_csv_row_with_wrong_field_count_names_its_line(tmp_path):
    (tmp_path / "d.csv").write_text("a,b\n1,2\n3\n", encoding="utf-8")
    with pytest.raises(HarnessError, match=r"d\.csv line 3 \(row 2\): 1 fields, but the header has 2"):
        sources.load_split("d.csv", "train", tmp_path)


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv", "tsv"])
def test_empty_file_is_an_error(tmp_path, fmt):
    (tmp_path / f"d.{fmt}").write_text("[]" if fmt == "json" else "", encoding="utf-8")
    with pytest.raises(HarnessError, match=rf"split 'train' of .*d\.{fmt} is empty"):
        sources.load_split(f"d.{fmt}", "train", tmp_path)


def test_empty_slice_is_an_error(tmp_path):
    write(tmp_path / "d.jsonl", "jsonl", ROWS)
    with pytest.raises(HarnessError, match=r"split 'train\[20:30\]' of .*d\.jsonl is empty"):
        sources.load_split("d.jsonl", "train[20:30]", tmp_path)


def test_missing_file_names_the_resolved_path(tmp_path):
    with pytest.raises(HarnessError, match=str(tmp_path / "nope" / "d.jsonl")):
        sources.load_split("nope/d.jsonl", "train", tmp_path)
    with pytest.raises(HarnessError, match="does not exist"):
        sources.fingerprint("nope/d.jsonl", "train", tmp_path)


def test_unknown_suffix_is_an_error(tmp_path):
    with pytest.raises(HarnessError, match=r"\.jsonl"):
        sources.load_split("data.txt", "train", tmp_path)


def test_fingerprint_follows_content_not_path(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    write(a / "d.jsonl", "jsonl", ROWS)
    write(b / "other-name.jsonl", "jsonl", ROWS)
    fa = sources.fingerprint("d.jsonl", "train", a)
    assert fa == sources.fingerprint("other-name.jsonl", "train", b)
    assert len(fa) == 16 and int(fa, 16) >= 0
    assert fa != sources.fingerprint("d.jsonl", "train[:80%]", a)

    data = (b / "other-name.jsonl").read_bytes()
    (b / "other-name.jsonl").write_bytes(data.replace(b"answer 9", b"answer 8"))  # one byte
    assert fa != sources.fingerprint("other-name.jsonl", "train", b)


def test_fingerprint_of_builtin_and_hf_needs_no_data(tmp_path):
    f = sources.fingerprint("builtin:data2text", "train", tmp_path)
    assert f == sources.fingerprint("builtin:data2text", "train", tmp_path / "elsewhere")
    assert f != sources.fingerprint("builtin:data2text", "test", tmp_path)
    assert sources.fingerprint("hf:glue:sst2", "train", tmp_path) != sources.fingerprint("hf:glue:cola", "train", tmp_path)


def test_builtin_splits_and_slices(tmp_path):
    rows = sources.load_split("builtin:data2text", "validation[:10]", tmp_path)
    assert len(rows) == 10 and set(rows[0]) == {"input", "output", "references"}
    both = sources.load_split("builtin:data2text", "validation+test", tmp_path)
    assert len(both) == 400
    with pytest.raises(HarnessError, match="has no split 'dev'; it has: train, validation, test"):
        sources.load_split("builtin:data2text", "dev", tmp_path)
    with pytest.raises(HarnessError, match="did you mean 'data2text'"):
        sources.load_split("builtin:data2txt", "train", tmp_path)


def test_reference_parsing():
    assert sources.parse_ref("hf:glue") == sources.DataRef("hf", "glue", None)
    assert sources.parse_ref("hf:glue:sst2") == sources.DataRef("hf", "glue", "sst2")
    assert sources.parse_ref("hf:org/name:cfg") == sources.DataRef("hf", "org/name", "cfg")
    assert sources.parse_ref("builtin:data2text") == sources.DataRef("builtin", "data2text")
    assert sources.parse_ref("data/x.jsonl").kind == "local"
    for bad in ["hf:", "hf:a:", "hf:a:b:c", "builtin:", ""]:
        with pytest.raises(HarnessError):
            sources.parse_ref(bad)
    assert sources.is_local_ref("x.csv") and not sources.is_local_ref("hf:glue") and not sources.is_local_ref("builtin:x")


def test_hf_rows_come_back_as_dicts(monkeypatch, tmp_path):
    import datasets

    calls = []

    def fake_load(name, config, split):
        calls.append((name, config, split))
        return datasets.Dataset.from_list(ROWS)

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    assert sources.load_split("hf:org/ds:cfg", "train[:50%]", tmp_path, limit=3) == ROWS[:3]
    assert calls == [("org/ds", "cfg", "train[:50%]")]  # datasets applies the slice itself


def test_hf_offline_failure_is_a_harness_error(tmp_path):
    # A child process, so hub offline mode (read at import) is set before datasets loads;
    # without it the real hub call retries for about 20 s before failing.
    code = textwrap.dedent(
        """
        from pathlib import Path
        from harness.data import sources
        from harness.errors import HarnessError
        try:
            sources.load_split("hf:no-such-org/no-such-dataset", "train", Path("."))
        except HarnessError as err:
            print("HARNESS:", err)
        """
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert "HARNESS: hf:no-such-org/no-such-dataset: could not load split 'train'" in out.stdout, out.stderr
    assert "local file" in out.stdout


def test_real_sst2_dev_file_slices_like_datasets():
    path = (SHARED_DATA / "sst2" / "dev.tsv").resolve()
    if not path.is_file():
        pytest.skip(f"shared SST-2 data not found at {path} (../shared/data is absent on this machine)")
    import datasets

    rows = sources.load_split(str(path), "train[:80%]", Path("."))
    (expected,) = datasets.ReadInstruction.from_spec("train[:80%]").to_absolute({"train": 872})
    assert len(rows) == expected.to - expected.from_
    assert set(rows[0]) == {"sentence", "label"}
    assert {r["label"] for r in rows} == {"0", "1"}
    rest = sources.load_split(str(path), "train[80%:]", Path("."))
    assert len(rows) + len(rest) == 872


def test_parallel_pair_reads_line_aligned_rows_and_slices(tmp_path):
    (tmp_path / "src.en.txt").write_text("".join(f"source {i}\n" for i in range(10)), encoding="utf-8")
    (tmp_path / "ref.de.txt").write_text("".join(f"Ziel {i}\r\n" for i in range(10)) + "\n", encoding="utf-8")
    ref = "parallel:src.en.txt|ref.de.txt"
    assert sources.parse_ref(ref) == sources.DataRef("parallel", "src.en.txt|ref.de.txt")
    rows = sources.load_split(ref, "train", tmp_path)
    assert rows == [{"source": f"source {i}", "target": f"Ziel {i}"} for i in range(10)]  # CRLF and the blank tail gone
    train, test = sources.load_split(ref, "train[:80%]", tmp_path), sources.load_split(ref, "test[80%:]", tmp_path)
    assert [r["source"] for r in train + test] == [r["source"] for r in rows] and len(test) == 2
    assert sources.columns(ref, "test", tmp_path) == {"source", "target"}


def test_parallel_pair_errors_name_the_files(tmp_path):
    (tmp_path / "a.txt").write_text("one\ntwo\nthree\n", encoding="utf-8")
    (tmp_path / "b.txt").write_text("eins\nzwei\n", encoding="utf-8")
    with pytest.raises(HarnessError, match=r"a\.txt has 3 lines but .*b\.txt has 2"):
        sources.load_split("parallel:a.txt|b.txt", "train", tmp_path)
    with pytest.raises(HarnessError, match=r"c\.txt does not exist"):
        sources.load_split("parallel:a.txt|c.txt", "train", tmp_path)
    for bad in ["parallel:a.txt", "parallel:a.txt|", "parallel:a|b|c"]:
        with pytest.raises(HarnessError, match="write parallel:SOURCE|TARGET"):
            sources.parse_ref(bad)


def test_parallel_fingerprint_follows_both_files_and_their_order(tmp_path):
    (tmp_path / "a.txt").write_text("one\ntwo\n", encoding="utf-8")
    (tmp_path / "b.txt").write_text("eins\nzwei\n", encoding="utf-8")
    first = sources.fingerprint("parallel:a.txt|b.txt", "train", tmp_path)
    assert first != sources.fingerprint("parallel:b.txt|a.txt", "train", tmp_path)  # swapped direction
    (tmp_path / "b.txt").write_text("eins\ndrei\n", encoding="utf-8")
    assert first != sources.fingerprint("parallel:a.txt|b.txt", "train", tmp_path)


def test_real_ntrex_pairs_line_up():
    folder = (SHARED_DATA / "ntrex").resolve()
    if not folder.is_dir():
        pytest.skip(f"shared NTREX data not found at {folder} (../shared/data is absent on this machine)")
    rows = sources.load_split(f"parallel:{folder}/newstest2019-src.eng.txt|{folder}/newstest2019-ref.deu.txt", "train", Path("."))
    assert len(rows) == 1997
    assert rows[0] == {"source": "Welsh AMs worried about 'looking like muppets'",
                       "target": (folder / "newstest2019-ref.deu.txt").read_text(encoding="utf-8").splitlines()[0]}
