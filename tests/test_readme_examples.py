"""The examples of README.md and policies/README.md that are marked runnable, and the examples of the
command's `--help`, run against a demo gateway as a newcomer runs them, each checked for its
documented outcome, so that the documentation cannot drift from what the gateway does.

A runnable example is a fenced `sh` or `python` block right after an HTML comment (invisible once
rendered):

    <!-- runnable -->                               exits 0
    <!-- runnable: exit 1, expect "21610" -->       exits 1 and prints 21610 (expect may repeat;
                                                    single quotes hold a fragment with double ones)

Before it runs, `http://127.0.0.1:8080` becomes the demo's URL and the placeholders `AC…`, `MG…`
and `SM…` the demo's account, service and a message it sent.  Shell examples run with
`bash -e -o pipefail`, the venv's commands first on PATH and `$ACCOUNT_SID`, `$AUTH_TOKEN`,
`$SERVICE_SID` and `$GATEWAY` set; Python examples after a prelude that defines `account_sid`,
`auth_token`, `number_sid` (a number registered for them) and the demo's `client` and `service`.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from gateway.cli import _parser
from tests.conftest import ROOT
from tests.demo import Demo, demo_gateway

EXAMPLE_TIMEOUT = 60  # seconds: a limit for an example that hangs, not a time to meet on a busy machine
MARKED = re.compile(
    r"^<!-- runnable(?::(?P<options>.*?))? -->\n```(?P<language>\w+)\n(?P<code>.*?)^```$", re.MULTILINE | re.DOTALL
)
EXPECT = re.compile(r"""expect (?:"([^"]*)"|'([^']*)')""")
EXAMPLE_NUMBER = "+12015550199"  # a second demo number, for the SDK example's own service


@dataclass(frozen=True)
class Example:
    where: str  # file:line, or the command whose help shows it
    language: str
    code: str
    exit: int
    expect: tuple[str, ...]


def marked_examples(path: Path) -> list[Example]:
    """The runnable examples of a Markdown file, in order."""
    text = path.read_text()
    examples = []
    for found in MARKED.finditer(text):
        options = found["options"] or ""
        status = re.search(r"\bexit (\d+)", options)
        line = text.count("\n", 0, found.start()) + 1
        examples.append(
            Example(
                f"{path.relative_to(ROOT)}:{line}",
                found["language"],
                found["code"],
                int(status[1]) if status else 0,
                tuple(a or b for a, b in EXPECT.findall(options)),
            )
        )
    return examples


def help_examples() -> list[Example]:
    """The `examples:` of every `gateway` command's help, backslash continuations joined; each exits 0."""
    found = []

    def walk(parser: argparse.ArgumentParser) -> None:
        epilog = parser.epilog or ""
        if "examples:" in epilog:
            lines = epilog.split("examples:", 1)[1].replace("\\\n", " ").splitlines()
            found.extend(Example(parser.prog, "sh", line.strip(), 0, ()) for line in lines if line.strip())
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for child in action.choices.values():
                    walk(child)

    walk(_parser())
    return found


README_EXAMPLES = marked_examples(ROOT / "README.md")
HELP_EXAMPLES = help_examples()
POLICY_EXAMPLES = marked_examples(ROOT / "policies" / "README.md")


@dataclass
class Context:
    demo: Demo
    message_sid: str
    number_sid: str


@contextmanager
def demo_context(directory: Path) -> Iterator[Context]:
    """A demo gateway that has sent a message and registered a second number, as the examples expect."""
    with demo_gateway(directory) as demo:
        auth = (demo.account_sid, demo.auth_token)
        accounts = f"{demo.base}/2010-04-01/Accounts/{demo.account_sid}"
        sent = httpx.post(
            f"{accounts}/Messages.json",
            auth=auth,
            data={"To": "+447400123456", "MessagingServiceSid": demo.service_sid, "Body": "Hello"},
        )
        number = httpx.post(f"{accounts}/IncomingPhoneNumbers.json", auth=auth, data={"PhoneNumber": EXAMPLE_NUMBER})
        assert sent.status_code == number.status_code == 201, (sent.text, number.text)
        yield Context(demo, sent.json()["sid"], number.json()["sid"])


PRELUDE = """\
import os
from twilio.rest import Client

account_sid, auth_token, number_sid = os.environ["ACCOUNT_SID"], os.environ["AUTH_TOKEN"], os.environ["NUMBER_SID"]
client = Client(account_sid, auth_token)
client.api.base_url = client.messaging.base_url = os.environ["GATEWAY"]
service = client.messaging.v1.services(os.environ["SERVICE_SID"]).fetch()
"""


def run_example(example: Example, context: Context) -> tuple[str, int | None, str]:
    """(the code as run, its exit status, what it printed), with the demo's URL and credentials put in;
    no status when it had not ended after EXAMPLE_TIMEOUT seconds."""
    demo = context.demo
    code = (
        example.code.replace("http://127.0.0.1:8080", demo.base)
        .replace("AC…", demo.account_sid)
        .replace("MG…", demo.service_sid)
        .replace("SM…", context.message_sid)
    )
    env = {
        **demo.env,
        "ACCOUNT_SID": demo.account_sid,
        "AUTH_TOKEN": demo.auth_token,
        "SERVICE_SID": demo.service_sid,
        "GATEWAY": demo.base,
        "NUMBER_SID": context.number_sid,
    }
    if example.language == "python":
        command = [sys.executable, "-c", PRELUDE + code]
    else:
        assert example.language == "sh", f"{example.where}: runnable blocks are sh or python"
        command = ["bash", "-e", "-o", "pipefail", "-c", code]
    try:
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=EXAMPLE_TIMEOUT)
    except subprocess.TimeoutExpired as hung:
        return code, None, _text(hung.stdout) + _text(hung.stderr)
    return code, done.returncode, done.stdout + done.stderr


def _text(output: str | bytes | None) -> str:
    """What a killed example had printed (TimeoutExpired holds bytes even for a text run)."""
    return output.decode(errors="replace") if isinstance(output, bytes) else output or ""


def test_the_readmes_mark_their_examples_and_the_help_shows_some():
    """A marker that stops matching (a renamed fence, a typo) would silently run nothing."""
    assert len(README_EXAMPLES) >= 4 and len(POLICY_EXAMPLES) >= 3 and len(HELP_EXAMPLES) >= 3


def failure(example: Example, context: Context) -> str | None:
    """What is wrong with the example's run, naming the example; None when it did what it says."""
    code, status, output = run_example(example, context)
    if status is None:
        return f"{example.where}: still running after {EXAMPLE_TIMEOUT} s\n{code}\n{output}"
    if status != example.exit:
        return f"{example.where}: exit {status}, not {example.exit}\n{code}\n{output}"
    missing = [fragment for fragment in example.expect if fragment not in output]
    return f"{example.where}: {missing!r} not in the output of\n{code}\n{output}" if missing else None


def test_documented_examples_do_what_the_documentation_says(tmp_path: Path) -> None:
    """Every marked example, in the order a reader meets them (README, --help, policies), against one
    demo gateway of this test's own: later examples build on what earlier ones made, so they run in
    one test, whichever test process it lands in.  Each failing example is named, with its output."""
    examples = README_EXAMPLES + HELP_EXAMPLES + POLICY_EXAMPLES
    with demo_context(tmp_path) as context:
        failures = [problem for example in examples if (problem := failure(example, context)) is not None]
    assert not failures, f"{len(failures)} of {len(examples)} examples failed:\n\n" + "\n\n".join(failures)
