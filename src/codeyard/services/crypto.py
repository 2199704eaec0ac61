"""Key digests, encryption of stored secrets and signed links, all keyed by the server's secret key."""

import base64
import hashlib
import hmac
import json
import secrets
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from codeyard.errors import LinkError

API_KEY_PREFIX = "cog_"


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def key_digest(token: str) -> str:
    """SHA-256 of a 256-bit random token: a slow hash would add nothing but CPU per request."""
    return hashlib.sha256(token.encode()).hexdigest()


class Vault:
    """Symmetric encryption for values at rest and HMAC signatures for links."""

    def __init__(self, secret_key: str) -> None:
        material = hashlib.sha256(b"codeyard-vault\0" + secret_key.encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(material))
        self._sign_key = hashlib.sha256(b"codeyard-links\0" + secret_key.encode()).digest()

    def encrypt(self, value: bytes) -> bytes:
        return self._fernet.encrypt(value)

    def decrypt(self, token: bytes) -> bytes:
        try:
            return self._fernet.decrypt(token)
        except InvalidToken as exc:
            raise ValueError("stored value cannot be decrypted with this server's secret key") from exc

    def encrypt_json(self, value: Any) -> bytes:
        return self.encrypt(json.dumps(value).encode())

    def decrypt_json(self, token: bytes) -> Any:
        return json.loads(self.decrypt(token))

    def sign(self, message: str) -> str:
        mac = hmac.new(self._sign_key, message.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    def verify(self, message: str, signature: str) -> None:
        # compare_digest refuses a non-ASCII str with a TypeError: such a signature is simply wrong.
        if not signature.isascii() or not hmac.compare_digest(self.sign(message), signature):
            raise LinkError("the download link is invalid")
