"""Baseline against new results: which metrics regressed, which are noise, which can't be compared.

Variants match by (name, model, seed), never by id, so a changed recipe is compared with the
one before it. For each metric of a matched eval:

1. Comparable? The same data (fingerprint), the same examples (ids), the same metric
   settings (harness/gate/snapshot.SETTING_KEYS). Otherwise "not comparable", which fails
   the check unless allowed, as does a baseline variant, eval or metric missing now.
2. A paired test on the per-example evidence, the same tests `harness run` uses between
   variants (harness/analysis/paired.py): McNemar for 0/1 scores, a paired bootstrap of the mean,
   or of the corpus score recomputed from sufficient statistics (BLEU, chrF, TER, macro-F1).
3. Holm's step-down correction over every test made, so many metrics and variants do not
   turn noise into a failure.
4. The verdict. drop = how much worse now is, on the metric's scale (its direction from the
   registry). "regressed": drop > tolerance and the Holm-adjusted p < alpha. A drop over the
   tolerance that is not significant is "not significant"; one within it "within tolerance";
   a significant gain "improved"; else "ok". A metric with no per-example evidence
   (lm-eval's) is judged by its tolerance alone.

`detectable` says how large a drop the sample could have detected: with se the standard
error of the baseline's value (its 95% interval / 3.92), (z(1 - alpha/2m) + z(0.8)) * sqrt(2)
* se, the drop a two-sided test at the strictest Holm level finds with 80% power if the two
runs' per-example scores were independent (paired runs of one recipe are correlated, so
smaller drops are usually found: this is an upper bound).

Tolerances: keyed "EVAL/METRIC", "METRIC" or "*", the first found wins, default 0; a number
is absolute, "N%" is relative to the baseline's value.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from scipy.stats import norm

from harness.analysis.paired import corpus_statistics, paired_corpus_test, paired_test
from harness.errors import HarnessError
from harness.gate.snapshot import variant_key
from harness.metrics.stats import corpus_resamples

POWER = 0.8


@dataclass
class Verdict:
    variant: str
    model: str
    seed: int
    eval: str | None = None
    metric: str | None = None
    baseline: float | None = None
    now: float | None = None
    change: float | None = None  # now minus baseline
    ci_low: float | None = None  # paired 95% interval of the change
    ci_high: float | None = None
    test: str | None = None  # mcnemar | paired_bootstrap | None (tolerance alone)
    p_value: float | None = None
    p_holm: float | None = None
    tolerance: float = 0.0  # absolute, on the metric's scale
    tolerance_text: str = "0"  # as given ("0.02", "5%")
    detectable: float | None = None
    status: str = "ok"  # ok | improved | within tolerance | not significant | regressed | not comparable
    reason: str = ""
    higher_is_better: bool = True

    @property
    def drop(self) -> float | None:
        if self.change is None:
            return None
        return -self.change if self.higher_is_better else self.change


@dataclass
class CheckResult:
    suite: str
    alpha: float
    verdicts: list[Verdict]
    comparisons: int  # tests counted by the Holm correction
    new_variants: list[str] = field(default_factory=list)  # in the results, not in the baseline
    notes: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for v in self.verdicts:
            out[v.status] = out.get(v.status, 0) + 1
        return out

    def failed(self, allow_missing: bool) -> bool:
        failing = {"regressed"} | (set() if allow_missing else {"not comparable"})
        return any(v.status in failing for v in self.verdicts)

    def to_json(self, allow_missing: bool) -> dict[str, Any]:
        return {"suite": self.suite, "alpha": self.alpha, "comparisons": self.comparisons, "counts": self.counts(),
                "passed": not self.failed(allow_missing), "allow_missing": allow_missing,
                "new_variants": self.new_variants, "notes": self.notes,
                "verdicts": [{**asdict(v), "drop": v.drop} for v in self.verdicts]}


def parse_tolerances(items: list[str] | tuple[str, ...]) -> dict[str, float | str]:
    """--tolerance KEY=VALUE options: {key: absolute number or "N%"}."""
    out: dict[str, float | str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        try:
            number = float(value[:-1] if value.endswith("%") else value)
        except ValueError:
            number = -1.0
        if not sep or not key or number < 0 or math.isnan(number):
            raise HarnessError(f"--tolerance {item!r}: write METRIC=VALUE (absolute, e.g. rouge1=0.02) or METRIC=N% "
                               "(relative to the baseline, e.g. bleu=5%); METRIC may be EVAL/METRIC or *")
        out[key] = value if value.endswith("%") else number
    return out


def resolve_tolerance(tolerances: dict[str, float | str], ev: str, metric: str, base: float) -> tuple[float, str]:
    """(absolute tolerance, as written) for one metric of one eval."""
    for key in (f"{ev}/{metric}", metric, "*"):
        if key in tolerances:
            tol = tolerances[key]
            if isinstance(tol, str):
                return float(tol[:-1]) / 100.0 * abs(base), tol
            return float(tol), f"{tol:g}"
    return 0.0, "0"


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the order given."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted, running = [0.0] * m, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def check(baseline: dict[str, Any], current: dict[str, Any], tolerances: dict[str, float | str],
          alpha: float) -> CheckResult:
    """Every baseline metric judged against the current snapshot (harness/gate/snapshot.py)."""
    now = {variant_key(v): v for v in current["variants"]}
    verdicts: list[Verdict] = []
    for old in baseline["variants"]:
        new = now.get(variant_key(old))
        if new is None:
            verdicts.append(_missing_variant(old, current["variants"]))
            continue
        for ev, old_eval in sorted(old["evals"].items()):
            for metric, old_metric in sorted(old_eval.get("metrics", {}).items()):
                verdicts.append(_compare(old, new, ev, metric, old_eval, old_metric, tolerances))
    tested = [v for v in verdicts if v.p_value is not None]
    for v, adjusted in zip(tested, holm([v.p_value for v in tested if v.p_value is not None])):
        v.p_holm = adjusted
    z = norm.ppf(1 - alpha / (2 * max(1, len(tested)))) + norm.ppf(POWER)
    for v in verdicts:
        if v.status != "not comparable":
            _judge(v, alpha)
    for v in verdicts:
        if v.detectable is not None:
            v.detectable *= z
    known = {variant_key(v) for v in baseline["variants"]}
    new_variants = [f"{v['name']} ({v['model']}, seed {v['seed']})" for v in current["variants"] if variant_key(v) not in known]
    return CheckResult(suite=current.get("suite") or baseline.get("suite", ""), alpha=alpha, verdicts=verdicts,
                       comparisons=len(tested), new_variants=new_variants)


def _missing_variant(old: dict, present: list[dict]) -> Verdict:
    same_name = [v for v in present if v["name"] == old["name"]]
    where = "; present: " + ", ".join(f"model {v['model']} seed {v['seed']}" for v in same_name) if same_name else ""
    return Verdict(old["name"], old["model"], old["seed"], status="not comparable",
                   reason=f"no variant {old['name']!r} on model {old['model']} with seed {old['seed']} in the results{where}")


def _compare(old: dict, new: dict, ev: str, metric: str, old_eval: dict, old_metric: dict,
             tolerances: dict[str, float | str]) -> Verdict:
    tol, text = resolve_tolerance(tolerances, ev, metric, old_metric["value"])
    v = Verdict(old["name"], old["model"], old["seed"], ev, metric, baseline=old_metric["value"], tolerance=tol,
                tolerance_text=text, higher_is_better=old_metric.get("higher_is_better") is not False)
    new_eval = new["evals"].get(ev)
    new_metric = (new_eval or {}).get("metrics", {}).get(metric)
    if new_eval is None or new_metric is None:
        v.status, v.reason = "not comparable", f"{'eval ' + ev if new_eval is None else 'metric ' + metric} not in the results"
        return v
    v.now, v.change = new_metric["value"], new_metric["value"] - old_metric["value"]
    reason = _incomparable(old_eval, new_eval, old_metric, new_metric)
    if reason:
        v.status, v.reason = "not comparable", reason
        return v
    half_width = (old_metric["ci_high"] - old_metric["ci_low"]) / 2.0
    v.detectable = math.sqrt(2.0) * half_width / norm.ppf(0.975)  # sqrt(2) se; check() multiplies by z
    test = _paired(metric, old_metric, new_metric)
    if test is not None:
        v.ci_low, v.ci_high, v.p_value, v.test = test["ci_low"], test["ci_high"], test["p_value"], test["test"]
    return v


def _incomparable(old_eval: dict, new_eval: dict, old_metric: dict, new_metric: dict) -> str:
    if old_eval.get("fingerprint") != new_eval.get("fingerprint"):
        return (f"different data (baseline: {old_eval.get('data')}, fingerprint {old_eval.get('fingerprint')}; "
                f"now: {new_eval.get('data')}, fingerprint {new_eval.get('fingerprint')})")
    old_ids, new_ids = old_eval.get("ids"), new_eval.get("ids")
    if old_ids is not None and new_ids is not None and old_ids != new_ids:
        common = len(set(map(repr, old_ids)) & set(map(repr, new_ids)))
        return f"different examples ({len(old_ids)} in the baseline, {len(new_ids)} now, {common} in common)"
    if old_metric.get("settings") != new_metric.get("settings"):
        a, b = old_metric.get("settings") or {}, new_metric.get("settings") or {}
        changed = ", ".join(f"{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k))
        return f"metric settings differ ({changed})"
    return ""


def _paired(metric: str, old: dict, new: dict) -> dict[str, Any] | None:
    """The paired test of new minus old, or None when either side has no per-example evidence."""
    kind = old.get("kind")
    if kind != new.get("kind") or kind == "unpaired":
        return None
    if kind == "corpus":
        # Both sides' statistics from the current metric code, resampled at the same indices.
        a, b = (corpus_statistics(metric, side["predictions"], side["references"]) for side in (old, new))
        if a is None or b is None:  # registered as corpus but without its statistics: nothing to pair
            return None
        return paired_corpus_test(corpus_resamples(*a), corpus_resamples(*b), len(old["predictions"]))
    return paired_test(old["scores"], new["scores"], binary=kind == "binary")


def _judge(v: Verdict, alpha: float) -> None:
    drop = v.drop
    significant = v.p_holm is not None and v.p_holm < alpha
    if drop is None or drop <= 0:
        v.status = "improved" if drop is not None and drop < 0 and significant else "ok"
    elif drop <= v.tolerance + 1e-12:
        v.status = "within tolerance"
    elif v.test is None:
        v.status, v.reason = "regressed", "no per-example scores to test: judged by the tolerance alone"
    else:
        v.status = "regressed" if significant else "not significant"
