"""Encrypt an exported workflow history (JSON) as a worker with the codec would have written it.

For histories recorded before the codec (or under a key being retired): every payload the SDK
passes through the codec is re-encrypted under the current key, failures get their message and
stack trace moved into an encrypted attribute, and the `CallPhoneNumber` search attribute is
replaced by its keyed hash. Payloads the SDK core reads itself (a local activity marker's `data`)
and search attributes (never encoded) keep their form. Replay does not look at payload bytes,
only at command kinds, so a transformed history replays like the original.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from google.protobuf import json_format
from temporalio.api.common.v1 import Payload

from core.codec import EncryptionCodec
from core.settings import CodecSettings
from domain.attributes import PHONE_NUMBER

JsonDict = dict[str, Any]
_HASHED = re.compile(r"[0-9a-f]{16}")
ENCODED_FAILURE = "Encoded failure"


def _payload(node: JsonDict) -> Payload:
    return json_format.ParseDict(node, Payload())


def _json(payload: Payload) -> JsonDict:
    result: JsonDict = json_format.MessageToDict(payload)
    return result


def _json_payload(value: object) -> Payload:
    return Payload(
        metadata={"encoding": b"json/plain"},
        data=json.dumps(value, separators=(",", ":")).encode(),
    )


class HistoryEncryptor:
    def __init__(self, settings: CodecSettings) -> None:
        self._codec = EncryptionCodec.from_settings(settings)
        self._settings = settings

    def encrypt(self, history: JsonDict) -> JsonDict:
        for event in history.get("events", []):
            for key, attributes in event.items():
                if not key.endswith("Attributes") or not isinstance(attributes, dict):
                    continue
                if key == "markerRecordedEventAttributes":
                    self._marker(attributes)
                else:
                    self._walk(attributes)
            if isinstance(event.get("userMetadata"), dict):
                self._walk(event["userMetadata"])
        return history

    def _marker(self, attributes: JsonDict) -> None:
        details = attributes.get("details", {})
        if "result" in details:  # the local activity's result; `data` is the core's own
            self._walk(details["result"])
        if isinstance(attributes.get("failure"), dict):
            self._walk(attributes["failure"])

    def _walk(self, node: object) -> None:
        if isinstance(node, list):
            for item in node:
                self._walk(item)
            return
        if not isinstance(node, dict):
            return
        for key, value in node.items():
            if key == "searchAttributes" and isinstance(value, dict):
                self._hash_phone(value)
            elif key in {"failure", "cause"} and isinstance(value, dict):
                self._failure(value)
                self._walk(value)
            elif _is_payload(value):
                node[key] = _json(self._reencrypt(_payload(value)))
            elif key == "payloads" and isinstance(value, list):
                node[key] = [_json(self._reencrypt(_payload(p))) for p in value]
            else:
                self._walk(value)

    def _reencrypt(self, payload: Payload) -> Payload:
        return self._codec.reencrypt([payload])[0]

    def _failure(self, failure: JsonDict) -> None:
        if failure.get("message") == ENCODED_FAILURE and "encodedAttributes" in failure:
            return  # already encoded: `_walk` re-encrypts the attribute itself
        attributes = {
            "message": failure.get("message", ""),
            "stack_trace": failure.get("stackTrace", ""),
        }
        failure["message"] = ENCODED_FAILURE
        failure.pop("stackTrace", None)
        failure["encodedAttributes"] = _json(_json_payload(attributes))

    def _hash_phone(self, search_attributes: JsonDict) -> None:
        fields = search_attributes.get("indexedFields", {})
        if PHONE_NUMBER.name not in fields:
            return
        value = json.loads(base64.b64decode(fields[PHONE_NUMBER.name]["data"]))
        if isinstance(value, str) and not _HASHED.fullmatch(value):
            fields[PHONE_NUMBER.name]["data"] = base64.b64encode(
                json.dumps(self._settings.phone_key(value)).encode()
            ).decode()


def _is_payload(value: object) -> bool:
    return isinstance(value, dict) and "metadata" in value and set(value) <= {"metadata", "data"}
