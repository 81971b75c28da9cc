"""Copy-paste blobs: round trips, survival through chat-app mangling, damage detection,
hostile input (hypothesis), and the atheris harness over a few seeds."""

from __future__ import annotations

import base64
import importlib.util
import zlib
from importlib import resources
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyrtcstack.signaling import BlobError, decode_blob, encode_blob
from pyrtcstack.signaling.blob import MAX_SDP_BYTES

CHROMIUM = resources.files("pyrtcstack").joinpath("data/chromium-offer.sdp").read_text()


def test_chromium_offer_round_trip_and_size() -> None:
    blob = encode_blob("offer", CHROMIUM)
    assert blob.startswith("RTC1o.")
    assert decode_blob(blob) == ("offer", CHROMIUM)
    # The preset dictionary beats plain deflate+base64 clearly.
    plain = len(base64.urlsafe_b64encode(zlib.compress(CHROMIUM.encode(), 9)))
    assert len(blob) < 0.7 * plain
    assert len(blob) < len(CHROMIUM) / 2


@pytest.mark.parametrize(
    "mangle",
    [
        lambda b: "\n".join(b[i : i + 40] for i in range(0, len(b), 40)),  # wrapped
        lambda b: f"```\n{b}\n```",  # Markdown code block
        lambda b: f'  "{b}"  ',  # quoted, padded
        lambda b: b.replace(".", ".\r\n", 1) + "\n",  # CRLF line break
        lambda b: "> " + b,  # a quote marker? no: ">" is stripped, the space too
    ],
)
def test_survives_chat_app_formatting(mangle: object) -> None:
    blob = encode_blob("answer", CHROMIUM)
    assert decode_blob(mangle(blob)) == ("answer", CHROMIUM)  # type: ignore[operator]


def test_every_single_character_change_is_detected() -> None:
    blob = encode_blob("offer", CHROMIUM)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    for i in range(6, len(blob)):
        changed = alphabet[(alphabet.index(blob[i]) + 17) % 64]
        with pytest.raises(BlobError):
            decode_blob(blob[:i] + changed + blob[i + 1 :])


def test_truncation_and_foreign_text_are_refused() -> None:
    blob = encode_blob("offer", CHROMIUM)
    for cut in (7, len(blob) // 2, len(blob) - 1):
        with pytest.raises(BlobError):
            decode_blob(blob[:cut])
    for text in ("", "hello", "RTC1x.abc", "RTC1o", "RTC1o.!!!", CHROMIUM, "RTC2o." + blob[6:]):
        with pytest.raises(BlobError):
            decode_blob(text)


def test_limits() -> None:
    with pytest.raises(BlobError):
        encode_blob("offer", "a" * (MAX_SDP_BYTES + 1))
    with pytest.raises(BlobError):
        encode_blob("rollback", "v=0")
    # A deflate bomb is refused without inflating it all.
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    bomb = packer.compress(b"a" * (10 * MAX_SDP_BYTES)) + packer.flush()
    text = "RTC1o." + base64.urlsafe_b64encode(bomb + b"\0\0\0\0").decode().rstrip("=")
    with pytest.raises(BlobError):
        decode_blob(text)


@settings(max_examples=200)
@given(st.sampled_from(["offer", "answer", "pranswer"]), st.text(max_size=3000))
def test_round_trip_property(kind: str, sdp: str) -> None:
    assert decode_blob(encode_blob(kind, sdp)) == (kind, sdp)


@settings(max_examples=300)
@given(st.text(max_size=2000))
def test_hostile_text_gives_only_blob_error(text: str) -> None:
    for candidate in (text, "RTC1o." + text, "RTC1a." + text.replace(" ", "")):
        try:
            decode_blob(candidate)
        except BlobError:
            pass


def test_fuzz_harness_over_seeds() -> None:
    path = Path(__file__).resolve().parents[1] / "fuzz" / "fuzz_signaling_blob.py"
    spec = importlib.util.spec_from_file_location("fuzz_signaling_blob", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    blob = encode_blob("offer", CHROMIUM)
    for seed in (b"", b"RTC1o.", blob.encode(), blob[:-3].encode(), CHROMIUM.encode(), b"\xff\x00"):
        module.TestOneInput(seed)
