"""R9: the new limits are not checked: 0 turns the header deadline off (aiohttp schedules its
keep-alive timer only when > 0), max_connections = 0 refuses every connection, a negative
body deadline refuses every body, lpd_searches_per_minute = 0 refuses every search."""
import pytest

from gateway.core.config import load_settings
from gateway.core.errors import GatewayError


@pytest.mark.parametrize("name,value", [("header_timeout_seconds", 0),
                                        ("body_timeout_seconds", -5),
                                        ("transfer_timeout_seconds", 0),
                                        ("max_connections", 0),
                                        ("lpd_searches_per_minute", 0)])
def test_a_limit_that_disables_the_gateway_is_config_invalid(name, value):
    with pytest.raises(GatewayError) as info:
        load_settings(None, party="355", **{name: value})
    assert info.value.code == "config-invalid"
