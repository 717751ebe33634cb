"""The WhatsApp Cloud API channel: webhook checks and parsing, Graph API client, adapter."""

from .adapter import WhatsAppAdapter
from .client import GraphClient
from .errors import (
    InvalidRequest,
    MarketingOptOut,
    MediaTooLarge,
    MediaUploadError,
    OutsideWindow,
    PairRateLimited,
    RateLimited,
    TemporaryError,
    TokenExpired,
    WhatsAppError,
    error_class,
    error_from_response,
)
from .signature import signature_header, verify_signature
from .verification import answer_challenge
from .webhook import parse_webhook

__all__ = [
    "GraphClient",
    "InvalidRequest",
    "MarketingOptOut",
    "MediaTooLarge",
    "MediaUploadError",
    "OutsideWindow",
    "PairRateLimited",
    "RateLimited",
    "TemporaryError",
    "TokenExpired",
    "WhatsAppAdapter",
    "WhatsAppError",
    "answer_challenge",
    "error_class",
    "error_from_response",
    "parse_webhook",
    "signature_header",
    "verify_signature",
]
