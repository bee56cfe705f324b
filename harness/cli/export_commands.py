"""`harness export`: a variant's saved weights copied out as a standalone folder, or with
--merge, its adapter folded into the base as a plain transformers model."""

from __future__ import annotations

from pathlib import Path

import click

from harness.cli.common import user_errors


@click.command("export")
@click.argument("variant_dir", type=click.Path(file_okay=False))
@click.argument("out", type=click.Path(file_okay=False))
@click.option("--merge", is_flag=True,
              help="Merge the adapter into the base model's weights (LoRA, DoRA, IA3, LoKr, VeRA): OUT is then a plain "
                   "transformers folder. Refused for prompt, prefix and p-tuning, QLoRA, bottleneck adapters and probes.")
@user_errors
def export(variant_dir: str, out: str, merge: bool) -> None:
    """Copy a variant's saved weights into OUT as a standalone folder, optionally merged into the base.

    VARIANT_DIR is RESULTS/<suite>/<variant_id>, the folder holding the variant's
    record.json; the variant must have been trained with `train: {save: true}`, which
    writes its weights in VARIANT_DIR/weights: a peft adapter folder for peft methods, the
    whole model as a transformers folder for full, freeze and ulmfit, the harness's own
    format for bottleneck adapters and linear probes; each with the tokenizer. OUT gets a
    copy, with its README.md and harness-saved.json saying how to load it from there (its
    base named as before). With --merge, the base is loaded as the run loaded it and the
    adapter merged into its weights (peft's merge_and_unload, in fp32): OUT is then loadable
    by AutoModelForCausalLM.from_pretrained(OUT) alone. OUT must be new or empty. Exit 0
    when written, 2 when it cannot be (no record, not saved, not mergeable, OUT not empty).
    """
    from harness.report.numbers import size
    from harness.run.export import export as export_weights

    done = export_weights(Path(variant_dir), Path(out), merge=merge)
    what = "a transformers folder, the adapter merged into the base" if done.merged else f"format {done.format}"
    click.echo(f"wrote {done.folder} ({what}, {size(done.bytes)})")
    if merge and not done.merged:  # --merge of a whole model: nothing was separate from the base
        click.echo("  (already the whole tuned model: nothing to merge, copied as it is)")
    for line in done.load.values():
        click.echo(f"  {line}")
