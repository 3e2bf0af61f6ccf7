"""Request signatures: fixed vectors (computed with openssl) and the header helper."""

from __future__ import annotations

from pydantic import SecretStr

from dpo.auth.api_keys import canonical_request, derive_secret, sign, signed_headers
from dpo.settings import Settings

SECRET = "s3cret-key-material"
BODY = b'{"query":"{ viewer { kind } }"}'


def test_canonical_request() -> None:
    assert canonical_request(timestamp="1764380000", method="post", path="/graphql", body=BODY) == (
        b"1764380000\nPOST\n/graphql\n"
        b"1f09be55f0d739c0e2955b3ddbcbf80fa3f1177f3e6520b06cf39cd047f95d60"
    )


def test_signature_vectors() -> None:
    # printf '1764380000\nPOST\n/graphql\n<sha256 body>' | openssl dgst -sha256 -hmac SECRET
    assert (
        sign(SECRET, timestamp="1764380000", method="POST", path="/graphql", body=BODY)
        == "c68b0cc5c6e8925afb8ff5047e72b14739352807d7ff192b8704bd333f839779"
    )
    assert (
        sign(SECRET, timestamp="1764380000", method="GET", path="/graphql?query=%7B%7D", body=b"")
        == "4fad55b73b65c721d335802db514398f61ec5058a8e55fbe9b95d41bafc3a73a"
    )


def test_every_part_is_covered() -> None:
    base = {"timestamp": "1764380000", "method": "POST", "path": "/graphql", "body": BODY}
    reference = sign(SECRET, **base)  # type: ignore[arg-type]
    for name, other in [
        ("timestamp", "1764380001"),
        ("method", "GET"),
        ("path", "/graphql/"),
        ("body", BODY + b" "),
    ]:
        assert sign(SECRET, **{**base, name: other}) != reference  # type: ignore[arg-type]
    assert sign(SECRET + "x", **base) != reference  # type: ignore[arg-type]


def test_derived_secret_vector() -> None:
    settings = Settings.model_validate({"API_HMAC_SECRET": "h" * 40})
    assert isinstance(settings.api_hmac_secret, SecretStr)
    assert (
        derive_secret(settings, prefix="dpo0123456789ab", salt="00112233445566778899aabbccddeeff")
        == "YJs193JLFCvNpRe6zwTkoArimyrxOXsVnutt_DTd2s0"
    )


def test_signed_headers() -> None:
    headers = signed_headers(
        f"dpo0123456789ab.{SECRET}", method="POST", path="/graphql", body=BODY, timestamp=1764380000
    )
    assert headers == {
        "X-Api-Key": "dpo0123456789ab",
        "X-Timestamp": "1764380000",
        "X-Signature": "c68b0cc5c6e8925afb8ff5047e72b14739352807d7ff192b8704bd333f839779",
    }
