"""The playground: paste a key, pick a model, send a prompt; the answer streams in (the text grows
while it arrives) and the call's tokens and cost are shown at the end."""

from __future__ import annotations

import re

from billing.models import UsageRecord

from .conftest import expect, wait_until, xfail_until_built

# Records every length the output's text has while the answer streams in.
WATCH_OUTPUT = """() => {
  const output = document.querySelector("#playground-output");
  window.outputLengths = [];
  new MutationObserver(() => window.outputLengths.push(output.textContent.trim().length))
    .observe(output, {childList: true, subtree: true, characterData: true});
}"""


def test_it_streams_an_answer_and_shows_the_calls_cost(web, customer, upstream) -> None:
    xfail_until_built(customer.url("playground/"), "The playground")
    key = customer.key("playground")
    upstream.configure(chunk_delay_ms=60)  # a dozen words over ~0.7 s: visibly streamed
    page = web.page
    web.log_in(customer.user)
    web.goto(customer.url("playground/"), "playground-1-empty")

    page.locator("#playground-key").fill(key.secret)
    page.locator("#playground-model").select_option("llama3.2")
    page.locator("#playground-prompt").fill("Which road has the fewest toll gates?")
    page.evaluate(WATCH_OUTPUT)
    page.get_by_role("button", name="Send").click()

    cost = page.locator("#playground-cost")
    expect(cost).to_contain_text(re.compile(r"token", re.IGNORECASE))
    web.shot("playground-2-answered")

    answer = page.locator("#playground-output").inner_text().strip()
    assert len(answer.split()) >= 5, answer
    lengths = [n for n in page.evaluate("window.outputLengths") if n]
    assert len(set(lengths)) >= 3 and lengths == sorted(lengths), f"not streamed: {lengths}"
    call = upstream.requests[-1]
    assert (call["model"], call["stream"]) == ("llama3.2", True)

    record = wait_until(lambda: UsageRecord.objects.filter(workspace=customer.workspace).first())
    assert (record.status, record.stream, record.key_id) == (200, True, key.key.pk)
    shown = cost.inner_text()
    assert str(record.prompt_tokens + record.completion_tokens) in shown or (
        str(record.prompt_tokens) in shown and str(record.completion_tokens) in shown
    ), shown
    assert "$" in shown, f"no cost in {shown!r}"
