"""Numeric settings from the environment: parsed, defaulted, and a typo never stops the server."""

import logging

from oc_jupyter.local.settings import env_number


def test_unset_or_blank_gives_the_default():
    assert env_number("OC_X", 2, environ={}) == 2
    assert env_number("OC_X", 1.5, environ={"OC_X": "  "}) == 1.5


def test_a_value_is_parsed_as_the_defaults_type():
    assert env_number("OC_X", 2, environ={"OC_X": "5"}) == 5
    assert env_number("OC_X", 120.0, environ={"OC_X": "2.5"}) == 2.5


def test_a_bad_value_is_logged_and_the_default_used(caplog):
    with caplog.at_level(logging.WARNING):
        assert env_number("OC_X", 2, environ={"OC_X": "1.5"}) == 2
    assert "OC_X='1.5' is not a whole number; using 2" in caplog.text
