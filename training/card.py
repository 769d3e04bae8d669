"""The model card (``README.md`` in the artifact): what it was trained on, how well it does, where it fails."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def write_card(out_dir: Path, meta: dict[str, Any]) -> None:
    lines = [f"# sift model {meta['version']}", "",
             f"Base encoder: {meta['base_model']}. Fine-tuned end to end with a multi-label head over "
             f"{', '.join(meta['labels'])} (masked binary cross-entropy: a source's silence on a label teaches nothing).",
             f"Code version {meta['code_version']}; trained {meta['created_at']} in {meta['train_seconds']} s; "
             f"best epoch {meta['best_epoch']}; training data fingerprint `{meta['training_data_fingerprint'][:16]}…` "
             f"({meta['training_rows']} rows).", "", "## Training data and licences", "",
             "| source | licence | rows used | restricted |", "|---|---|---|---|"]
    for name, info in meta["sources"].items():
        lines.append(f"| {name} | {info['licence']} | {info['rows']} | "
                     f"{'yes, used because the trainer asked for it by name' if info.get('restricted') else 'no'} |")
    lines += ["", "## Per source, held out (int8 ONNX model alone, calibrated thresholds)", "",
              "Each public source's dev and test splits are held out of its own training file; dev chose the checkpoint, "
              "temperatures and thresholds (weighed against the housing seed dev rows), test did not. "
              "`binary macro-F1` is the mean F1 of a label and of its absence, as shared tasks (OLID) report it.", "",
              "| set | rows | macro-F1 | per label: F1 (binary macro-F1) |", "|---|---|---|---|"]
    for set_name, result in meta.get("metrics", {}).items():
        cells = ", ".join(f"{label} {m['f1']} ({m.get('binary_macro_f1', '-')})" for label, m in result["labels"].items())
        lines.append(f"| {set_name} | {result['rows']} | {result['macro_f1']} | {cells} |")
    lines += ["", "## How well it does, label by label", ""]
    for set_name, result in meta.get("metrics", {}).items():
        lines += [f"### {set_name} ({result['rows']} rows): macro-F1 {result['macro_f1']}", "",
                  "| label | precision | recall | F1 | support |", "|---|---|---|---|---|"]
        for label, m in result["labels"].items():
            lines.append(f"| {label} | {m['precision']} | {m['recall']} | {m['f1']} | {m['support']} |")
        lines.append("")
    lines += [f"Text preparation: `{meta.get('text_normalization', 'none')}` (mentions, links, hashtags, emoji and repeated "
              "characters folded into words, the same in training and serving). Languages: "
              f"{', '.join(meta.get('languages', [])) or 'not recorded'}; comments detected in another language go to review.", ""]
    lines += ["## Thresholds, review bands, calibration", "", "| label | temperature | threshold | review band |", "|---|---|---|---|"]
    for label in meta["labels"]:
        low, high = meta["review_bands"][label]
        lines.append(f"| {label} | {meta['temperatures'][label]} | {meta['thresholds'][label]} | [{low}, {high}) |")
    lines += _quantisation(meta)
    lines += ["", "## Where it fails", "",
              "- Trained on the team's seed comments for one (fictional) UK housing association plus any imported public sets "
              "listed above; none of the public sets is UK housing. Expect weaker results on other organisations' wording.",
              "- `staff_named` is not learnt: it comes from the roster rules. High-precision rules (PII validators, abuse "
              "lexicon, malicious links) run beside the model and override it.",
              "- Long comments are read head and tail within the token window; the middle is seen only by the rules.",
              "- Sarcasm, rhetorical questions and civil-but-angry criticism are the commonest confusions (see the "
              "error-analysis notebook).", ""]
    (out_dir / "README.md").write_text("\n".join(lines), encoding="utf-8")


def _quantisation(meta: dict[str, Any]) -> list[str]:
    """How the int8 graph was made and how closely it follows its fp32 reference."""
    q, par, drift = meta.get("quantisation"), meta.get("parity"), meta.get("neighbour_drift")
    if not (q or par):
        return []
    lines = ["", "## Int8 graph: quantisation, parity, batch neighbours", ""]
    if q:
        cal = q.get("calibration", {})
        lines.append(f"Quantisation: `{q['method']}` ({q.get('tool', '')}); weights {q.get('weights', '?')}, activations "
                     f"{q.get('activations', 'quantised per call')}, calibrated ({q.get('calibration_method', '-')}) on "
                     f"{cal.get('rows', '?')} {cal.get('drawn_from', 'rows')}: "
                     f"{', '.join(f'{k} {v}' for k, v in cal.get('sources', {}).items())}.")
    if par:
        ref = (q or {}).get("reference", {}).get("kind", par.get("reference", "the PyTorch network"))
        lines.append(f"Against {ref}, on {par.get('rows', 'the')} dev rows: decisions agree on {par['decision_agreement']:.2%} "
                     f"of (comment, label) pairs; probabilities differ by {par['mean_abs_diff']} on average, "
                     f"{par['max_abs_diff']} at most.")
    if drift:
        lines.append(f"Batch neighbours: a comment alone, in a padded batch of {drift['batch']} random neighbours, and in "
                     f"length buckets scores within {drift['max_abs_logit']} (logit) and {drift['max_abs_prob']} "
                     f"(probability) over {drift['rows']} dev comments.")
    before = (q or {}).get("before")
    if before:
        bd = before["neighbour_drift"]
        bp = before["parity_vs_rebuilt_fp32"]
        lines.append(f"Before (dynamic quantisation, activation scales per call): neighbours moved a score by up to "
                     f"{bd['max_abs_logit']} (logit), {bd['max_abs_prob']} (probability); decisions agreed with the same "
                     f"reference on {bp['decision_agreement']:.2%}, mean gap {bp['mean_abs_diff']}.")
    return lines
