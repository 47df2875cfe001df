"""Dutch phrases (formal "u")."""

TABLE = {
    "hello": "Hallo, ik ben {bot_name} van {bot_company}. Waarmee kan ik u helpen?",
    "goodbye": "Bedankt voor uw telefoontje naar {bot_company}. Nog een fijne dag, tot ziens!",
    "error": "Sorry, ik had een technisch probleem. Kunt u dat alstublieft herhalen?",
    "timeout_silence": "Bent u er nog?",
    "timeout_loading": "Ik kijk het even voor u na, een ogenblik.",
    "connect_agent": "Ik verbind u door met een medewerker, blijft u aan de lijn.",
    "end_call_to_connect_agent": "Natuurlijk, ik verbind u nu door met een medewerker.",
    "calltransfer_failure": "Sorry, ik kon geen medewerker bereiken. Laten we samen verdergaan.",
    "ivr_language": "Voor Nederlands, druk op {digit}.",
    "content_filter": "Sorry, daarover kan ik niet praten. Waarmee kan ik u verder helpen met "
    "uw dossier?",
    "hold": "Een ogenblik, alstublieft.",
    "media_lost": "Sorry, door een technisch probleem wordt dit gesprek afgebroken. Belt u ons "
    "alstublieft terug. Tot ziens!",
}
