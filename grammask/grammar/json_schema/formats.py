r"""JSON Schema `format` names -> regexes over the *decoded* string value (grammask dialect,
full-match), so `strings.string_dfa(format=...)` can enforce them exactly.

Unknown formats: JSON Schema makes `format` an annotation unless a validator opts in to
assertion, so `format_regex` returns None for names it does not know and leaves the decision
(ignore, warn, or refuse) to the caller.

What each regex accepts, and where it deliberately differs from the full specification (all
differences keep the automaton small; measured against the JSON-Schema-Test-Suite draft2020-12
`optional/format` cases in tests/test_json_strings.py):

* date: RFC 3339 full-date, month lengths exact, Feb 29 only in Gregorian leap years.
* time: RFC 3339 full-time (`Z`/`z` or `+hh:mm`/`-hh:mm` offset required, optional fraction).
  Leap second `:60` is exact for `Z` and `±00:00` (only 23:59:60). With a non-zero offset any
  `hh:mm:60` is accepted: checking that the *UTC* time is 23:59 would need the automaton to
  remember hh:mm (~1440 extra states per position).
* date-time: full-date `T`/`t` full-time (RFC 3339, case-insensitive T and Z).
* duration: RFC 3339 Appendix A (ISO 8601 durations: P...T..., weeks alone, no fractions).
* email: RFC 5321 Mailbox subset: dot-atom or quoted-string local part; domain = hostname,
  `[IPv4]` or `[IPv6:...]` address literal. No length limits (64/254), no comments.
* hostname: RFC 1123 labels (letters, digits, inner hyphens, <= 63 chars) joined by dots.
  The 253-character total limit is not enforced (it multiplies states by the label counter),
  and `xn--` A-labels are accepted when LDH-valid without decoding their Punycode (IDNA).
* ipv4: dotted quad, octets 0-255 without leading zeros. ipv6: RFC 4291/3986 text forms,
  all `::` compressions, optional trailing dotted IPv4; no zone ids, no prefix lengths.
* uri / uri-reference: the RFC 3986 grammar (ASCII only; IRIs are a different format).
* uuid: RFC 4122 textual form, 8-4-4-4-12 hex digits, either case, any version.
* json-pointer (RFC 6901), relative-json-pointer.
"""
from __future__ import annotations

# ----------------------------------------------------------------------------- date / time
_YEAR = "[0-9]{4}"
_LEAP_YEAR = "([0-9]{2}([02468][48]|[13579][26]|[2468]0)|([02468][048]|[13579][26])00)"
_MONTH_DAY = ("((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])"
              "|(0[469]|11)-(0[1-9]|[12][0-9]|30)"
              "|02-(0[1-9]|1[0-9]|2[0-8]))")
DATE = f"({_YEAR}-{_MONTH_DAY}|{_LEAP_YEAR}-02-29)"

_HOUR = "([01][0-9]|2[0-3])"
_MIN = "[0-5][0-9]"
_FRAC = r"(\.[0-9]+)?"
_OFFSET = f"([Zz]|[+-]{_HOUR}:{_MIN})"
_NONZERO_OFFSET = f"[+-]((0[1-9]|1[0-9]|2[0-3]):{_MIN}|00:(0[1-9]|[1-5][0-9]))"
TIME = (f"({_HOUR}:{_MIN}:{_MIN}{_FRAC}{_OFFSET}"
        f"|23:59:60{_FRAC}([Zz]|[+-]00:00)"
        f"|{_HOUR}:{_MIN}:60{_FRAC}{_NONZERO_OFFSET})")
DATE_TIME = f"{DATE}[Tt]{TIME}"

_N = "[0-9]+"
_DUR_TIME = f"T({_N}H({_N}M({_N}S)?)?|{_N}M({_N}S)?|{_N}S)"
_DUR_DATE = f"({_N}D|{_N}M({_N}D)?|{_N}Y({_N}M({_N}D)?)?)({_DUR_TIME})?"
DURATION = f"P({_DUR_DATE}|{_DUR_TIME}|{_N}W)"

# ----------------------------------------------------------------------------- addresses
_OCTET = "(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
IPV4 = rf"{_OCTET}(\.{_OCTET}){{3}}"
_H16 = "[0-9a-fA-F]{1,4}"
_LS32 = f"({_H16}:{_H16}|{IPV4})"
IPV6 = "(" + "|".join([
    f"({_H16}:){{6}}{_LS32}",
    f"::({_H16}:){{5}}{_LS32}",
    f"({_H16})?::({_H16}:){{4}}{_LS32}",
    f"(({_H16}:)?{_H16})?::({_H16}:){{3}}{_LS32}",
    f"(({_H16}:){{0,2}}{_H16})?::({_H16}:){{2}}{_LS32}",
    f"(({_H16}:){{0,3}}{_H16})?::{_H16}:{_LS32}",
    f"(({_H16}:){{0,4}}{_H16})?::{_LS32}",
    f"(({_H16}:){{0,5}}{_H16})?::{_H16}",
    f"(({_H16}:){{0,6}}{_H16})?::",
]) + ")"

_LABEL = "[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOSTNAME = rf"{_LABEL}(\.{_LABEL})*"

_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_QUOTED = r'"([\x20\x21\x23-\x5b\x5d-\x7e]|\\[\x20-\x7e])*"'
EMAIL = (rf"({_ATEXT}+(\.{_ATEXT}+)*|{_QUOTED})"
         rf"@({HOSTNAME}|\[{IPV4}\]|\[IPv6:{IPV6}\])")

# ----------------------------------------------------------------------------- RFC 3986
_UNRESERVED = r"A-Za-z0-9\-._~"
_SUB_DELIMS = r"!$&'()*+,;="
_PCT = "%[0-9A-Fa-f]{2}"
_PCHAR = f"([{_UNRESERVED}{_SUB_DELIMS}:@]|{_PCT})"
_SEGMENT = f"{_PCHAR}*"
_SEGMENT_NZ = f"{_PCHAR}+"
_SEGMENT_NZ_NC = f"([{_UNRESERVED}{_SUB_DELIMS}@]|{_PCT})+"
_SCHEME = r"[A-Za-z][A-Za-z0-9+\-.]*"
_USERINFO = f"([{_UNRESERVED}{_SUB_DELIMS}:]|{_PCT})*"
_IPVFUTURE = rf"v[0-9A-Fa-f]+\.[{_UNRESERVED}{_SUB_DELIMS}:]+"
_REG_NAME = f"([{_UNRESERVED}{_SUB_DELIMS}]|{_PCT})*"
_HOST = rf"(\[({IPV6}|{_IPVFUTURE})\]|{_REG_NAME})"   # an IPv4 address is also a reg-name
_AUTHORITY = f"({_USERINFO}@)?{_HOST}(:[0-9]*)?"
_PATH_ABEMPTY = f"(/{_SEGMENT})*"
_PATH_ABSOLUTE = f"/({_SEGMENT_NZ}(/{_SEGMENT})*)?"
_PATH_ROOTLESS = f"{_SEGMENT_NZ}(/{_SEGMENT})*"
_PATH_NOSCHEME = f"{_SEGMENT_NZ_NC}(/{_SEGMENT})*"
_QUERY = f"([/?]|{_PCHAR})*"
_TAIL = f"(\\?{_QUERY})?(#{_QUERY})?"
URI = f"{_SCHEME}:(//{_AUTHORITY}{_PATH_ABEMPTY}|{_PATH_ABSOLUTE}|{_PATH_ROOTLESS})?{_TAIL}"
_RELATIVE_REF = f"(//{_AUTHORITY}{_PATH_ABEMPTY}|{_PATH_ABSOLUTE}|{_PATH_NOSCHEME})?{_TAIL}"
URI_REFERENCE = f"({URI}|{_RELATIVE_REF})"

# ----------------------------------------------------------------------------- misc
UUID = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
JSON_POINTER = "(/([^/~]|~[01])*)*"
RELATIVE_JSON_POINTER = f"(0|[1-9][0-9]*)(#|{JSON_POINTER})"

FORMATS: dict[str, str] = {
    "date-time": DATE_TIME, "date": DATE, "time": TIME, "duration": DURATION,
    "email": EMAIL, "hostname": HOSTNAME, "ipv4": IPV4, "ipv6": IPV6,
    "uri": URI, "uri-reference": URI_REFERENCE, "uuid": UUID,
    "json-pointer": JSON_POINTER, "relative-json-pointer": RELATIVE_JSON_POINTER,
}


def format_regex(name: str) -> str | None:
    """The regex (full match over the decoded value) of a known format, else None."""
    return FORMATS.get(name)
