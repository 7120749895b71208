"""Voucher codes: unguessable, readable back as people type them, and a typo is caught before any lookup."""

from __future__ import annotations

import uuid

import pytest

from services.local_life.domain.vouchers import (
    CHECK_SYMBOLS,
    VoucherCodeTypo,
    code_hash,
    format_code,
    new_code,
    open_code,
    parse_code,
    qr_payload,
    qr_voucher_id,
    seal_code,
)


def test_codes_are_unique_and_read_back_however_they_are_typed() -> None:
    codes = {new_code() for _ in range(5000)}
    assert len(codes) == 5000
    for code in list(codes)[:200]:
        shown = format_code(code)
        assert len(shown) == 25
        assert shown.count("-") == 4
        assert parse_code(shown) == code
        assert parse_code(shown.lower().replace("-", " ")) == code
        assert parse_code(code) == code


def test_look_alike_letters_read_as_digits() -> None:
    code = new_code()
    while "1" not in code[:20] or "0" not in code[:20]:
        code = new_code()
    typed = code[:20].replace("1", "l").replace("0", "O") + code[20]
    assert parse_code(typed) == code


def test_a_single_changed_character_is_caught_by_the_check_character() -> None:
    for _ in range(300):
        code = new_code()
        for position in range(20):
            for replacement in "0123456789ABCDEFGHJKMNPQRSTVWXYZ":
                if replacement == code[position]:
                    continue
                typo = code[:position] + replacement + code[position + 1 :]
                with pytest.raises(VoucherCodeTypo):
                    parse_code(typo)
            break  # one position per code keeps this fast; positions vary with the codes


def test_swapped_neighbours_are_caught() -> None:
    caught = 0
    for _ in range(500):
        code = new_code()
        i = 7
        if code[i] == code[i + 1]:
            continue
        swapped = code[:i] + code[i + 1] + code[i] + code[i + 2 :]
        with pytest.raises(VoucherCodeTypo):
            parse_code(swapped)
        caught += 1
    assert caught > 400


@pytest.mark.parametrize("text", ["", "ABC", "X" * 40, "ÄBCDE-FGHJK-MNPQR-STVWX-Y", "UUUUU-UUUUU-UUUUU-UUUUU-U"])
def test_what_is_not_a_code_is_refused_naming_the_field(text: str) -> None:
    with pytest.raises(VoucherCodeTypo) as refused:
        parse_code(text)
    assert refused.value.field == "code"


def test_check_symbols_are_crockfords() -> None:
    assert len(CHECK_SYMBOLS) == 37
    assert CHECK_SYMBOLS.endswith("*~$=U")


def test_a_sealed_code_opens_only_with_its_secret_and_voucher() -> None:
    code, voucher_id = new_code(), str(uuid.uuid4())
    sealed = seal_code(code, voucher_id, "secret-a")
    assert open_code(sealed, voucher_id, "secret-a", code_hash(code)) == code
    assert open_code(sealed, voucher_id, "secret-b", code_hash(code)) is None
    assert open_code(sealed, str(uuid.uuid4()), "secret-a", code_hash(code)) is None


def test_qr_payload_names_the_voucher_only_when_signed_with_our_secret() -> None:
    voucher_id = str(uuid.uuid4())
    payload = qr_payload(voucher_id, "secret-a")
    assert payload.startswith(f"v1.{voucher_id}.")
    assert qr_voucher_id(payload, "secret-a") == voucher_id
    assert qr_voucher_id(payload, "secret-b") is None
    other = str(uuid.uuid4())
    assert qr_voucher_id(payload.replace(voucher_id, other), "secret-a") is None
    assert qr_voucher_id("v2" + payload[2:], "secret-a") is None
    assert qr_voucher_id("garbage", "secret-a") is None
