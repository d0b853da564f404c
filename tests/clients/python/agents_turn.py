"""Run by tests/clients/test_openai_agents.py in a process of its own: the SDK's import name,
`agents`, is also the name of the gateway's Django app, so the SDK cannot be imported beside it.

    python agents_turn.py BASE_URL KEY MODEL  →  one JSON line: version, final_output, tool calls
"""

from __future__ import annotations

import json
import sys
from importlib.metadata import version

from openai import AsyncOpenAI

from agents import Agent, OpenAIProvider, RunConfig, Runner, function_tool, set_tracing_disabled


def main(base_url: str, key: str, model: str) -> None:
    set_tracing_disabled(True)  # the SDK's own switch: no trace is exported anywhere
    seen: list[str] = []

    @function_tool
    def get_weather(city: str) -> str:
        """The current weather of a city."""
        seen.append(city)
        return f"Sunny in {city}"

    agent = Agent(
        name="Weather", instructions="Answer with the weather.", tools=[get_weather], model=model
    )
    client = AsyncOpenAI(base_url=base_url, api_key=key, max_retries=0)
    result = Runner.run_sync(
        agent,
        "What is the weather in Paris?",
        run_config=RunConfig(
            model_provider=OpenAIProvider(openai_client=client, use_responses=True),
            tracing_disabled=True,
        ),
    )
    print(
        json.dumps(
            {
                "version": version("openai-agents"),
                "final_output": result.final_output,
                "tool_calls": seen,
            }
        )
    )


if __name__ == "__main__":
    main(*sys.argv[1:4])
