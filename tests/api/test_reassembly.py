"""The timers joining Vonage's long inbound messages belong to the app: its lifespan cancels them."""

from __future__ import annotations

from starlette.testclient import TestClient

from gateway.app import create_app
from tests.conftest import US_MOBILE
from tests.flows.provider_standins import VONAGE_API_KEY, VONAGE_API_SECRET, VONAGE_SIGNATURE_SECRET, vonage_signed


def test_shutdown_with_a_part_awaiting_the_rest_leaves_no_timer_or_task(settings):
    app = create_app(
        settings.with_(
            workers=False,
            public_url="http://testserver",
            vonage_api_key=VONAGE_API_KEY,
            vonage_api_secret=VONAGE_API_SECRET,
            vonage_signature_secret=VONAGE_SIGNATURE_SECRET,
        )
    )
    part = vonage_signed(
        {
            "msisdn": US_MOBILE.lstrip("+"),
            "to": "12015550124",
            "messageId": "0A0000001",
            "text": "STOP",
            "type": "text",
            "concat": "true",
            "concat-ref": "5",
            "concat-total": "2",
            "concat-part": "1",
        }
    )
    with TestClient(app) as client:
        assert client.get("/webhooks/vonage/inbound", params=part).status_code == 200
        # the start's flush of each provider whose parts are joined (Vonage, SMPP), and this part's
        assert app.state.reassembly.pending == len(app.state.reassembly.waits) + 1
    assert app.state.reassembly.pending == 0
