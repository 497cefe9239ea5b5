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
* uri / uri-reference: the RFC 3986 grammar (ASCII only). iri / iri-reference: RFC 3987,
  the same grammar with ucschar in unreserved and iprivate in queries.
* uri-template: RFC 6570 up to level 4 (operators, prefix `:n` below 10000, explode `*`).
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

# ----------------------------------------------------------------------------- RFC 3986 / 3987
_SUB_DELIMS = r"!$&'()*+,;="
_PCT = "%[0-9A-Fa-f]{2}"
_SCHEME = r"[A-Za-z][A-Za-z0-9+\-.]*"
_UCSCHAR = (r"\u00a0-\ud7ff\uf900-\ufdcf\ufdf0-\uffef\U00010000-\U0001fffd"
            r"\U00020000-\U0002fffd\U00030000-\U0003fffd\U00040000-\U0004fffd"
            r"\U00050000-\U0005fffd\U00060000-\U0006fffd\U00070000-\U0007fffd"
            r"\U00080000-\U0008fffd\U00090000-\U0009fffd\U000a0000-\U000afffd"
            r"\U000b0000-\U000bfffd\U000c0000-\U000cfffd\U000d0000-\U000dfffd"
            r"\U000e1000-\U000efffd")
_IPRIVATE = r"\ue000-\uf8ff\U000f0000-\U000ffffd\U00100000-\U0010fffd"


def _rfc3986(unreserved: str, query_extra: str = "") -> tuple[str, str]:
    """(absolute, reference) regexes of RFC 3986's grammar, or RFC 3987's when `unreserved`
    holds ucschar (and the query iprivate, `query_extra`): an IRI is a URI whose unreserved
    characters may be any of those code points."""
    pchar = f"([{unreserved}{_SUB_DELIMS}:@]|{_PCT})"
    segment, segment_nz = f"{pchar}*", f"{pchar}+"
    segment_nz_nc = f"([{unreserved}{_SUB_DELIMS}@]|{_PCT})+"
    userinfo = f"([{unreserved}{_SUB_DELIMS}:]|{_PCT})*"
    ipvfuture = rf"[vV][0-9A-Fa-f]+\.[{_UNRESERVED}{_SUB_DELIMS}:]+"
    reg_name = f"([{unreserved}{_SUB_DELIMS}]|{_PCT})*"
    host = rf"(\[({IPV6}|{ipvfuture})\]|{reg_name})"   # an IPv4 address is also a reg-name
    authority = f"({userinfo}@)?{host}(:[0-9]*)?"
    path_abempty = f"(/{segment})*"
    path_absolute = f"/({segment_nz}(/{segment})*)?"
    path_rootless = f"{segment_nz}(/{segment})*"
    path_noscheme = f"{segment_nz_nc}(/{segment})*"
    query = f"([/?{query_extra}]|{pchar})*"
    fragment = f"([/?]|{pchar})*"
    tail = f"(\\?{query})?(#{fragment})?"
    absolute = f"{_SCHEME}:(//{authority}{path_abempty}|{path_absolute}|{path_rootless})?{tail}"
    relative = f"(//{authority}{path_abempty}|{path_absolute}|{path_noscheme})?{tail}"
    return absolute, f"({absolute}|{relative})"


_UNRESERVED = r"A-Za-z0-9\-._~"
URI, URI_REFERENCE = _rfc3986(_UNRESERVED)
IRI, IRI_REFERENCE = _rfc3986(_UNRESERVED + _UCSCHAR, _IPRIVATE)

# RFC 6570 URI templates (level 4): literals and {expressions} of variables with prefix or
# explode modifiers; `'` is a literal too (erratum 6937).
_VARCHAR = f"([A-Za-z0-9_]|{_PCT})"
_VARSPEC = rf"{_VARCHAR}(\.?{_VARCHAR})*(:[1-9][0-9]{{0,3}}|\*)?"
_TEMPLATE_LITERAL = (r"[\x21\x23\x24\x26-\x3b\x3d\x3f-\x5b\x5d\x5f\x61-\x7a\x7e"
                     + _UCSCHAR + _IPRIVATE + "]")
URI_TEMPLATE = (f"({_TEMPLATE_LITERAL}|{_PCT}"
                rf"|\{{[+#./;?&=,!@|]?{_VARSPEC}(,{_VARSPEC})*\}})*")

# ----------------------------------------------------------------------------- misc
UUID = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
JSON_POINTER = "(/([^/~]|~[01])*)*"
RELATIVE_JSON_POINTER = f"(0|[1-9][0-9]*)(#|{JSON_POINTER})"

FORMATS: dict[str, str] = {
    "date-time": DATE_TIME, "date": DATE, "time": TIME, "duration": DURATION,
    "email": EMAIL, "hostname": HOSTNAME, "ipv4": IPV4, "ipv6": IPV6,
    "uri": URI, "uri-reference": URI_REFERENCE, "iri": IRI, "iri-reference": IRI_REFERENCE,
    "uri-template": URI_TEMPLATE, "uuid": UUID,
    "json-pointer": JSON_POINTER, "relative-json-pointer": RELATIVE_JSON_POINTER,
}


def format_regex(name: str) -> str | None:
    """The regex (full match over the decoded value) of a known format, else None."""
    return FORMATS.get(name)
