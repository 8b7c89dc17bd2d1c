"""Client secrets as the CLI and token endpoint take them."""

from __future__ import annotations

from authz.secrets import hash_secret, new_secret, verify_secret


def test_secrets_never_start_like_an_option() -> None:
    """``renkei flood-watch --client-secret <s>``: argparse reads a leading ``-`` as an
    option; one secret in 64 used to start with it (a CI run failed on one)."""
    drawn = [new_secret() for _ in range(3000)]
    assert not any(s.startswith("-") for s in drawn)
    assert len(set(drawn)) == len(drawn) and all(len(s) == 43 for s in drawn)
    assert any("-" in s for s in drawn)  # still the URL-safe alphabet, '-' inside


def test_a_secret_verifies_against_its_hash_only() -> None:
    s = new_secret()
    stored = hash_secret(s)
    assert verify_secret(s, stored) and not verify_secret(new_secret(), stored)
