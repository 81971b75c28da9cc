"""STUN codepoints and limits: methods, classes, attribute types, password algorithms.

Every value comes from the registry of the RFC named next to it (RFC 8489 §18 for the STUN
registries, RFC 8445 §16.1 for ICE, RFC 8656 §18 for TURN, RFC 5780 §9.1 for NAT behaviour
discovery).
"""

from __future__ import annotations

from enum import IntEnum

__all__ = [
    "COMPREHENSION_REQUIRED_MAX",
    "FINGERPRINT_XOR",
    "HEADER_SIZE",
    "MAGIC_COOKIE",
    "MAX_ATTRIBUTES",
    "MAX_REASON_CHARS",
    "MAX_SOFTWARE_CHARS",
    "AttributeType",
    "MessageClass",
    "Method",
    "PasswordAlgorithm",
]

#: RFC 8489 §5: the fixed value in bytes 4–7 of every STUN message.
MAGIC_COOKIE = 0x2112A442
#: RFC 8489 §5: the header is 20 bytes (type, length, cookie, 96-bit transaction id).
HEADER_SIZE = 20
#: RFC 8489 §14.7: the CRC-32 in FINGERPRINT is XORed with this ("STUN").
FINGERPRINT_XOR = 0x5354554E
#: RFC 8489 §14: types 0x0000–0x7FFF are comprehension-required, 0x8000–0xFFFF optional.
COMPREHENSION_REQUIRED_MAX = 0x7FFF
#: Decoder limit: a message carrying more attributes than this is rejected. Browsers send
#: about 10; a 64 KiB message of empty attributes could otherwise hold 16 383 of them.
MAX_ATTRIBUTES = 256
#: RFC 8489 §14.8: the ERROR-CODE reason phrase is at most 128 characters.
MAX_REASON_CHARS = 128
#: RFC 8489 §14.14: SOFTWARE is at most 128 characters.
MAX_SOFTWARE_CHARS = 128


class Method(IntEnum):
    """STUN methods (12 bits). RFC 8489 §18.2 and RFC 8656 §18 (TURN)."""

    BINDING = 0x001
    ALLOCATE = 0x003  # RFC 8656 §7
    REFRESH = 0x004  # RFC 8656 §8
    SEND = 0x006  # RFC 8656 §11 (indication only)
    DATA = 0x007  # RFC 8656 §11 (indication only)
    CREATE_PERMISSION = 0x008  # RFC 8656 §9
    CHANNEL_BIND = 0x009  # RFC 8656 §12

    def __str__(self) -> str:
        # print(msg.method) shows "BINDING", not "1" (IntEnum's default); format specs
        # such as f"{method:03X}" still format the number.
        return self.name


class MessageClass(IntEnum):
    """The two class bits C1C0 of the message type. RFC 8489 §5."""

    REQUEST = 0b00
    INDICATION = 0b01
    SUCCESS = 0b10
    ERROR = 0b11

    def __str__(self) -> str:
        return self.name


class AttributeType(IntEnum):
    """Attribute types. RFC 8489 §18.3; ICE RFC 8445 §16.1; TURN RFC 8656 §18;
    RFC 5780 §9.1 (NAT behaviour discovery)."""

    # RFC 8489 §18.3.1, comprehension-required
    MAPPED_ADDRESS = 0x0001
    USERNAME = 0x0006
    MESSAGE_INTEGRITY = 0x0008
    ERROR_CODE = 0x0009
    UNKNOWN_ATTRIBUTES = 0x000A
    REALM = 0x0014
    NONCE = 0x0015
    MESSAGE_INTEGRITY_SHA256 = 0x001C
    PASSWORD_ALGORITHM = 0x001D
    USERHASH = 0x001E
    XOR_MAPPED_ADDRESS = 0x0020
    # RFC 8489 §18.3.2, comprehension-optional
    PASSWORD_ALGORITHMS = 0x8002
    ALTERNATE_DOMAIN = 0x8003
    SOFTWARE = 0x8022
    ALTERNATE_SERVER = 0x8023
    FINGERPRINT = 0x8028
    # RFC 8656 §18 (TURN)
    CHANNEL_NUMBER = 0x000C
    LIFETIME = 0x000D
    XOR_PEER_ADDRESS = 0x0012
    DATA = 0x0013
    XOR_RELAYED_ADDRESS = 0x0016
    REQUESTED_ADDRESS_FAMILY = 0x0017
    EVEN_PORT = 0x0018
    REQUESTED_TRANSPORT = 0x0019
    DONT_FRAGMENT = 0x001A
    RESERVATION_TOKEN = 0x0022
    ADDITIONAL_ADDRESS_FAMILY = 0x8000
    ADDRESS_ERROR_CODE = 0x8001
    ICMP = 0x8004
    # RFC 5780 §7 (NAT behaviour discovery)
    CHANGE_REQUEST = 0x0003
    PADDING = 0x0026
    RESPONSE_PORT = 0x0027
    RESPONSE_ORIGIN = 0x802B
    OTHER_ADDRESS = 0x802C
    # RFC 8445 §16.1 (ICE)
    PRIORITY = 0x0024
    USE_CANDIDATE = 0x0025
    ICE_CONTROLLED = 0x8029
    ICE_CONTROLLING = 0x802A


class PasswordAlgorithm(IntEnum):
    """PASSWORD-ALGORITHM values. RFC 8489 §18.5."""

    MD5 = 0x0001
    SHA256 = 0x0002


#: Address-valued attributes whose value is XORed with the cookie (and transaction id).
XOR_ADDRESS_TYPES = frozenset(
    {
        AttributeType.XOR_MAPPED_ADDRESS,
        AttributeType.XOR_PEER_ADDRESS,
        AttributeType.XOR_RELAYED_ADDRESS,
    }
)

#: Comprehension-required attribute types this codec knows (RFC 8489 §6.3.1: any other
#: type below 0x8000 makes a request fail with 420).
KNOWN_REQUIRED_TYPES = frozenset(int(t) for t in AttributeType if t <= COMPREHENSION_REQUIRED_MAX)
