"""German phrases (formal "Sie")."""

TABLE = {
    "hello": "Guten Tag, ich bin {bot_name} von {bot_company}. Wie kann ich Ihnen helfen?",
    "goodbye": "Vielen Dank für Ihren Anruf bei {bot_company}. Einen schönen Tag noch, "
    "auf Wiederhören!",
    "error": "Entschuldigung, ich hatte ein technisches Problem. Könnten Sie das bitte "
    "wiederholen?",
    "timeout_silence": "Sind Sie noch da?",
    "timeout_loading": "Ich sehe kurz für Sie nach, einen Moment bitte.",
    "connect_agent": "Ich verbinde Sie mit einem Mitarbeiter, bitte bleiben Sie dran.",
    "end_call_to_connect_agent": "Selbstverständlich, ich verbinde Sie jetzt mit einem "
    "Mitarbeiter.",
    "calltransfer_failure": "Entschuldigung, ich konnte keinen Mitarbeiter erreichen. Machen "
    "wir gemeinsam weiter.",
    "ivr_language": "Für Deutsch drücken Sie die {digit}.",
    "content_filter": "Entschuldigung, darüber kann ich nicht sprechen. Wie kann ich Ihnen "
    "sonst bei Ihrem Anliegen helfen?",
    "hold": "Einen Moment bitte.",
    "media_lost": "Entschuldigung, wegen eines technischen Problems muss ich das Gespräch "
    "beenden. Bitte rufen Sie uns noch einmal an. Auf Wiederhören!",
}
