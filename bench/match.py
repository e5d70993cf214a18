"""Keyword matches per second on one core, exact and reasonable mode, shipped policies.

    .venv/bin/python bench/match.py [--messages 100000]

The mix is what a busy inbound number sees: mostly ordinary replies, some
keywords in many languages and shapes, from numbers of several countries.
A baseline (`normalize` alone, the floor any matcher pays) runs in the same
process, so the ratio means something on a shared machine.
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

import phonenumbers

from gateway.locales import Catalogs
from gateway.policy.loader import load_policies
from gateway.policy.matcher import Matcher
from gateway.policy.model import Mode
from gateway.policy.normalize import normalize

ROOT = Path(__file__).resolve().parent.parent
TEXTS = [
    "STOP",
    "stop",
    " Stop. ",
    "STOP 🛑",
    "Arrêt",
    "ARRET",
    "Stopp",
    "Alto",
    "AYUDA",
    "HELP",
    "start",
    "UNSTOP",
    "配信停止",
    "退订",
    "수신거부",
    "СТОП",
    "إلغاء",
    "SAIR",
    "Pare",
    "CANCELLA",
    "opt-out",
    "OPT OUT",
    "Yes I'll be there at 5",
    "Thanks! See you tomorrow",
    "Can you call me back?",
    "ok",
    "👍",
    "Where is my order #12345?",
    "Please stop texting me",
    "What time do you open on Sunday?",
    "Gracias, nos vemos mañana",
    "Merci beaucoup, à demain",
    "Danke, bis morgen!",
    "ありがとうございます",
    "Is this still available? I want to buy two of them for my family and friends next week",
]
COUNTRIES = [None, "US", "CA", "FR", "DE", "ES", "MX", "BR", "JP", "GB", "CH", "IN"]


def run(label: str, func, messages: list[tuple[str, str | None]]) -> float:
    start = time.perf_counter()
    for text, country in messages:
        func(text, country)
    rate = len(messages) / (time.perf_counter() - start)
    print(f"{label:<38} {rate:>12,.0f} msg/s")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=100_000)
    args = parser.parse_args()
    result = load_policies(ROOT / "policies", Catalogs.load(ROOT / "locales"))
    assert result.policy is not None
    matcher = Matcher(result.policy)
    rng = random.Random(7)
    messages = [(rng.choice(TEXTS), rng.choice(COUNTRIES)) for _ in range(args.messages)]
    for country in COUNTRIES:  # compile every country table before timing, as a warm server has
        matcher.table(country)
    print(
        f"{args.messages:,} mixed messages, policy revision {matcher.revision}, phonenumbers {phonenumbers.__version__}"
    )
    baseline = run("baseline: normalize() only", lambda text, country: normalize(text), messages)
    exact = run("match, exact mode", lambda text, country: matcher.match(text, country, Mode.EXACT), messages)
    reasonable = run(
        "match, reasonable mode", lambda text, country: matcher.match(text, country, Mode.REASONABLE), messages
    )
    print(f"ratios to baseline: exact {exact / baseline:.2f}, reasonable {reasonable / baseline:.2f}")


if __name__ == "__main__":
    main()
