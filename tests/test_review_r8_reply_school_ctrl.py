"""R8: a control character in a reply's school name is a 500 internal-error, not a 400
(e2e47d3 checks comments with _NOT_XML, not the school's fields)."""
from gateway.messages import xml as mx
from gateway.web.app import create_app
from tests.conftest import enquiry, pair
from tests.test_inbound import signer_of


async def test_school_fields_are_checked(aiohttp_client, tmp_path):
    a, b = pair(tmp_path, extra='api_token = "op"\n')
    client = await aiohttp_client(create_app(b.settings(), background=False))
    msg = enquiry()
    r = await client.post("/v1/messages", data=signer_of(a).sign(mx.build(msg)))
    assert r.status == 200
    h = {"Authorization": "Bearer op"}
    r = await client.post(f"/v1/admin/inbox/{msg.header.message_id}/reply", headers=h,
                          json={"outcomes": [{"child_ref": "1", "outcome": "known-on-roll",
                                              "school": {"name": "Oak\u0001School"}}]})
    body = await r.text()
    assert r.status == 400, (r.status, body)
