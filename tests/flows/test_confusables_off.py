"""A policy that switches `confusables` off: a STOP spelt with Cyrillic look-alikes is an ordinary
message (forwarded, nothing recorded), while the invisible characters are still dropped."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, US_MOBILE
from tests.flows.test_inbound import forwards, inbound, service  # noqa: F401 (service is a fixture)
from tests.poll import wait_until


@pytest.fixture
def gateway_overrides(tmp_path: Path) -> dict[str, object]:
    """The shipped policies with the switch off in global.toml and every language file (STOP is also a
    French and German keyword: a language that keeps the switch on would still read ЅТОР as its STOP)."""
    policies = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", policies)
    global_toml = policies / "global.toml"
    global_toml.write_text(global_toml.read_text("utf-8").replace("confusables = true", "confusables = false"), "utf-8")
    for language_file in (policies / "languages").glob("*.toml"):
        text = language_file.read_text("utf-8")
        language_file.write_text(
            re.sub(r"^(language = .*)$", r"\1\nconfusables = false", text, count=1, flags=re.MULTILINE), "utf-8"
        )
    return {"policies_dir": policies}


def test_a_stop_in_cyrillic_lookalike_letters_is_a_message_when_the_switch_is_off(stack, service):  # noqa: F811
    """'ЅТОР' reaches the app as an ordinary message and records no opt-out."""
    inbound(stack, US_MOBILE, "ЅТОР")
    [forward] = wait_until(lambda: forwards(stack, US_MOBILE))
    assert forward.field("Body") == "ЅТОР" and forward.field("OptOutType") is None
    response = httpx.get(f"{stack.url}/v1/OptOuts/{US_MOBILE}", auth=(stack.account_sid, stack.auth_token))
    assert response.status_code == 404


def test_a_stop_with_a_zero_width_space_still_opts_out_when_the_switch_is_off(stack, service):  # noqa: F811
    """Dropping format characters is not part of the switch: 'S\\u200bTOP' opts out."""
    inbound(stack, US_MOBILE, "S\u200bTOP")
    [forward] = wait_until(lambda: forwards(stack, US_MOBILE))
    assert forward.field("OptOutType") == "STOP"
