"""`resultInformation` values the emulator sends.

Sources: the recorded fixtures (/work/shared/fixtures/acs-events), the Call Automation
troubleshooting codes and recognize event-code tables in MicrosoftDocs, and the Java SDK's
ReasonCode. Values marked INVENTED follow the documented "560" + SIP status pattern or pick a
documented generic subcode; no recording of them exists.
"""

from __future__ import annotations

from acs_emulator.models import ResultInfo

CONNECTED = ResultInfo(code=200, sub_code=0, message="")
ACTION_OK = ResultInfo(code=200, sub_code=0, message="Action completed successfully.")
CANCELED = ResultInfo(code=400, sub_code=8508, message="Action failed, the operation was canceled.")

# CallDisconnected
BOT_HUNG_UP = ResultInfo(
    code=200,
    sub_code=7000,
    message="Call was ended by Azure Communication Service Call Automation API or a server bot. "
    "DiagCode: 0#7000.@",
)
# INVENTED choice among documented ones: "Call ended because only one participant remained."
PHONE_HUNG_UP = ResultInfo(
    code=200, sub_code=5010, message="The conversation has ended. DiagCode: 0#5010.@"
)
TRANSFERRED = ResultInfo(
    code=200,
    sub_code=7015,
    message="Call ended by service after successful transfer. DiagCode: 0#7015.@",
)
# CreateCallFailed / CallTransferFailed + CallDisconnected of a call nobody took.
NO_ANSWER = ResultInfo(code=480, sub_code=560480, message="No answer from callee.")
DECLINED = ResultInfo(code=603, sub_code=560603, message="Call declined by callee.")  # INVENTED
BUSY = ResultInfo(code=486, sub_code=560486, message="Callee is busy.")  # INVENTED
TRANSFER_ACCEPTED = ResultInfo(code=200, sub_code=7015, message="Transfer completed successfully.")

# Recognize (MicrosoftDocs recognize-action "Event codes").
MAX_DIGITS = ResultInfo(code=200, sub_code=8531, message="Action completed, max digits received.")
STOP_TONE = ResultInfo(
    code=200, sub_code=8514, message="Action completed as stop tone was detected."
)
DTMF_OPTION = ResultInfo(code=200, sub_code=8533, message="Action completed, DTMF option matched.")
SPEECH_OPTION = ResultInfo(
    code=200, sub_code=8545, message="Action completed, speech option matched."
)
SPEECH_RECOGNIZED = ResultInfo(
    code=200, sub_code=8569, message="Action completed, speech was recognized."
)
INITIAL_SILENCE = ResultInfo(
    code=400, sub_code=8510, message="Action failed, initial silence timeout reached."
)
INTER_DIGIT = ResultInfo(
    code=400, sub_code=8532, message="Action failed, inter-digit silence timeout reached."
)
NO_OPTION_MATCH = ResultInfo(
    code=400,
    sub_code=8547,
    message="Action failed, recognized phrase does not match a valid option.",
)
INCORRECT_TONE = ResultInfo(
    code=500, sub_code=8534, message="Action failed, incorrect tone entered."
)

# Media streaming (status details from the SDK's MediaStreamingStatusDetails enum).
# INVENTED: generic 9999 for a transport URL that cannot be reached.
MEDIA_CONNECT_FAILED = ResultInfo(
    code=500, sub_code=9999, message="Action failed, initial WebSocket connection failed."
)
# INVENTED: the socket closed by the bot's side while the call is live.
MEDIA_INTERRUPTED = ResultInfo(
    code=200, sub_code=0, message="Media streaming stopped, the WebSocket connection was closed."
)


def as_json(info: ResultInfo) -> dict[str, object]:
    return {"code": info.code, "subCode": info.sub_code, "message": info.message}


# Participants (add, remove, cancel). INVENTED: no recording of these events exists; the
# success values follow the generic "Action completed successfully." of the other actions.
ADD_PARTICIPANT_OK = ResultInfo(code=200, sub_code=0, message="Action completed successfully.")
REMOVE_PARTICIPANT_OK = ResultInfo(code=200, sub_code=0, message="Action completed successfully.")
CANCEL_ADD_OK = ResultInfo(code=200, sub_code=0, message="Action completed successfully.")
# INVENTED: an operation aimed at a participant who left (hung up, removed) meanwhile.
PARTICIPANT_LEFT = ResultInfo(
    code=400, sub_code=8523, message="Action failed, the target participant left the call."
)
