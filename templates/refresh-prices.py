#!/usr/bin/env python3
"""Refreshes templates/prices.tsv, the price table telemhq embeds at build time, from
LiteLLM's `model_prices_and_context_window.json` as the `litellm` package on PyPI ships
it (`litellm/model_prices_and_context_window_backup.json`): facts, not code. Keeps only
chat models of the providers telemhq's agents use, and only the prices it needs, per
token (US dollars), one tab-separated line per model (read without parsing the whole
table: a lookup scans 80 KB of text).

Usage: python3 templates/refresh-prices.py [--from PATH_TO_JSON --version NAME]
(without --from it downloads the newest litellm wheel with pip, needing no install.)
"""
import argparse
import json
import re
import subprocess
import sys
import tempfile
import zipfile
from datetime import date
from pathlib import Path

PROVIDERS = {
    "anthropic", "openai", "gemini", "vertex_ai-language-models", "vertex_ai-anthropic_models",
    "bedrock", "bedrock_converse", "azure", "deepseek", "xai", "mistral", "dashscope",
}
# The order of the prices in each row (None where the table has none).
FIELDS = [
    "input_cost_per_token",
    "output_cost_per_token",
    "cache_read_input_token_cost",
    "cache_creation_input_token_cost",
    "cache_creation_input_token_cost_above_1hr",
    "output_cost_per_reasoning_token",
    "input_cost_per_token_above_200k_tokens",
    "output_cost_per_token_above_200k_tokens",
    "cache_read_input_token_cost_above_200k_tokens",
    "cache_creation_input_token_cost_above_200k_tokens",
]
OUT = Path(__file__).resolve().parent / "prices.tsv"


def download():
    work = Path(tempfile.mkdtemp(prefix="litellm-"))
    subprocess.run([sys.executable, "-m", "pip", "download", "litellm", "--no-deps", "-q", "-d", str(work)],
                   check=True)
    wheel = next(work.glob("litellm-*.whl"))
    version = re.match(r"litellm-([^-]+)-", wheel.name).group(1)
    with zipfile.ZipFile(wheel) as z:
        raw = z.read("litellm/model_prices_and_context_window_backup.json")
    return json.loads(raw), f"litellm {version}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--from", dest="source")
    ap.add_argument("--version")
    args = ap.parse_args()
    if args.source:
        table, version = json.loads(Path(args.source).read_text()), args.version or "litellm (local file)"
    else:
        table, version = download()
    rows = {}
    for name, entry in sorted(table.items()):
        if not isinstance(entry, dict) or entry.get("litellm_provider") not in PROVIDERS:
            continue
        if entry.get("mode") not in (None, "chat", "responses"):
            continue
        row = [entry.get(f) for f in FIELDS]
        if row[0] is None or row[1] is None:
            continue
        # Trailing unknowns are left off.
        while row and row[-1] is None:
            row.pop()
        rows[name] = [entry["litellm_provider"]] + row
    lines = [f"# {version}, {date.today().isoformat()}",
             "# per token, US dollars; columns: model, provider, " + ", ".join(FIELDS)]
    for name, row in rows.items():
        provider, prices = row[0], row[1:]
        lines.append("\t".join([name, provider] + ["" if p is None else repr(float(p)) for p in prices]))
    OUT.write_text("\n".join(lines) + "\n")
    print(f"{OUT}: {len(rows)} models from {version}")


if __name__ == "__main__":
    main()
