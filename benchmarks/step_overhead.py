"""Median orchestration overhead per agent step, with a zero-latency scripted model.

    .venv/bin/python -m benchmarks.step_overhead [--steps 100] [--rounds 5]

A session whose model calls ``message_user`` N times, against one with a single step: the difference over
N-1 is the time of one step (model call + tool + the step's database writes), polled every 50 ms so that
the client does not compete with the runner (the polling error is divided by N-1). The baseline, in the
same run: the same provider code (``Model.complete``, the openai SDK) calling the same scripted model
directly with a history of the same length. What is left after subtracting it is our orchestration.
"""

import argparse
import asyncio
import shutil
import tempfile
import time
from pathlib import Path

import httpx2

from benchmarks._runtime import machine, median, runtime_server
from codeyard.agent.model import Message, ToolSpec
from codeyard.agent.providers.factory import ModelConfig, create_model
from tests.conftest import LiveServer, stop_server
from tests.fakes.model_server import FakeModelServer, Step


def run_session(http: httpx2.Client, server: LiveServer, prompt: str) -> float:
    t0 = time.perf_counter()
    sid = http.post(f"/v3/organizations/{server.org_id}/sessions", json={"prompt": prompt}).json()["session_id"]
    while True:
        body = http.get(f"/v3/organizations/{server.org_id}/sessions/{sid}").json()
        if body["status"] in ("exit", "error", "suspended"):
            if body["status"] != "exit":
                raise SystemExit(f"session ended {body['status']}: {body}")
            return time.perf_counter() - t0
        time.sleep(0.05)


async def direct_calls(model: FakeModelServer, prompt: str, steps: int) -> float:
    """Mean time of ``Model.complete`` over a conversation growing like the session's, without codeyard."""
    llm = create_model(ModelConfig(spec="openai:scripted", base_url=model.base_url, api_key="bench"))
    tools = [ToolSpec(f"tool{i}", "a tool", {"type": "object", "properties": {}}) for i in range(7)]
    history = [Message("user", prompt)]
    total = 0.0
    try:
        for _ in range(steps):
            t0 = time.perf_counter()
            reply = await llm.complete("system prompt", history, tools)
            total += time.perf_counter() - t0
            history += [
                Message("assistant", reply.text, reply.tool_calls),
                *(Message("tool", "message sent", tool_call_id=c.id) for c in reply.tool_calls),
            ]
    finally:
        await llm.aclose()
    return total / steps


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-steps-"))
    per_step: list[float] = []
    model_rtt: list[float] = []
    with FakeModelServer() as model:
        server = runtime_server(tmp / "data", model)
        try:
            with httpx2.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.org_key}"}) as http:
                for r in range(args.rounds):
                    model.add_script(
                        f"LONG-{r}",
                        [Step.tool("message_user", {"message": "x"})] * (args.steps - 1) + [Step.text("done")],
                    )
                    model.add_script(f"SHORT-{r}", [Step.text("done")])
                    long = run_session(http, server, f"LONG-{r}")
                    short = run_session(http, server, f"SHORT-{r}")
                    per_step.append((long - short) / (args.steps - 1))
                    model.add_script(f"DIRECT-{r}", [Step.tool("message_user", {"message": "x"})] * args.steps)
                    model_rtt.append(asyncio.run(direct_calls(model, f"DIRECT-{r}", args.steps)))
        finally:
            stop_server(server)
    step_ms, rtt_ms = median(per_step) * 1000, median(model_rtt) * 1000
    print(f"machine: {machine()}")
    print(f"steps per session: {args.steps}, rounds: {args.rounds}")
    print(f"median time per step: {step_ms:.2f} ms (rounds: {', '.join(f'{x * 1000:.2f}' for x in per_step)})")
    print(f"median model call without codeyard (baseline, same run): {rtt_ms:.2f} ms")
    print(f"orchestration overhead per step: {step_ms - rtt_ms:.2f} ms")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
