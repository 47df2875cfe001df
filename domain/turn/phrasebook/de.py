"""What the small-model policy says in German, formal "Sie" (keys: see `en`)."""

TABLE: dict[str, tuple[str, ...]] = {
    "ack": (
        "Danke, das habe ich notiert.",
        "Danke.",
        "Gut, das ist notiert.",
        "Perfekt, vielen Dank.",
        "Notiert.",
        "Verstanden.",
    ),
    "ack_sorry": ("Das tut mir leid.", "Ich verstehe, das ist ärgerlich.", "Ich verstehe."),
    "ack_nothing": ("Ich verstehe.", "In Ordnung.", "Gut."),
    "anything_else": (
        "Möchten Sie noch etwas hinzufügen?",
        "Gibt es noch etwas, das ich notieren soll?",
        "Noch etwas?",
    ),
    "bot_name": (
        "Hier spricht {bot_name}, der digitale Kundenservice von {bot_company}.",
        "Wie gesagt, hier spricht {bot_name} von {bot_company}.",
        "{bot_name} von {bot_company}.",
    ),
    "robot": (
        "Hier spricht {bot_name}, der digitale Kundenservice von {bot_company}, und ich kann"
        " Ihnen sofort helfen.",
        "Ja, hier spricht {bot_name}, der digitale Kundenservice von {bot_company}.",
    ),
    "duration": (
        "Das dauert nur wenige Minuten.",
        "Nur noch ein paar Minuten.",
        "Wir sind fast fertig.",
    ),
    "next_steps": (
        "Sobald Ihre Unterlagen vollständig sind, prüft sie ein Mitarbeiter und meldet sich bald"
        " bei Ihnen.",
        "Ein Mitarbeiter meldet sich bald bei Ihnen, sobald Ihre Unterlagen vollständig sind.",
    ),
    "refund": (
        "Ich habe Ihre Frage zur Erstattung notiert: Darüber wird nach Prüfung Ihres Falls"
        " entschieden.",
        "Die Erstattung wird nach Prüfung Ihres Falls bestätigt.",
    ),
    "billing": (
        "Ich habe Ihre Frage zur Abrechnung notiert: {bot_company} bestätigt eine letzte"
        " Abbuchung, sobald Ihr Anliegen bearbeitet ist.",
        "{bot_company} bestätigt eine letzte Abbuchung, sobald Ihr Anliegen bearbeitet ist.",
    ),
    "medical_advice": (
        "Ich darf keine medizinischen Ratschläge geben: Bitte fragen Sie einen Arzt oder eine"
        " Apotheke, und rufen Sie den Notruf, wenn es schlimmer wird.",
        "Für medizinischen Rat fragen Sie bitte einen Arzt oder eine Apotheke.",
    ),
    "advice": (
        "Dazu möchte ich Sie nicht selbst beraten: Ein Mitarbeiter sagt Ihnen, was zu tun ist.",
        "Ein Mitarbeiter sagt Ihnen, was dazu zu tun ist.",
    ),
    "small_talk": (
        "Das lassen wir jetzt beiseite und machen mit Ihrem Anliegen weiter.",
        "Machen wir mit Ihrem Anliegen weiter.",
    ),
    "decline": (
        "Das kann ich in diesem Gespräch leider nicht tun, aber bei Ihrem Anliegen helfe ich"
        " Ihnen gern.",
        "Ich bleibe bei Ihrem Anliegen, dafür bin ich da.",
        "Bleiben wir bei Ihrem Anliegen.",
    ),
    "no_prompt": (
        "Wie ich intern arbeite, darf ich nicht verraten, aber bei Ihrem Anliegen helfe ich"
        " Ihnen gern.",
        "Wie gesagt, das darf ich nicht verraten, aber bei Ihrem Anliegen helfe ich Ihnen gern.",
    ),
    "question": (
        "Ich habe Ihre Frage notiert, ein Mitarbeiter beantwortet sie, wenn er sich bei Ihnen"
        " meldet.",
        "Ihre Frage ist für den Mitarbeiter notiert.",
    ),
    "callback": (
        "Selbstverständlich, das ist notiert: Wir rufen Sie {when} zurück.",
        "Das ist notiert, wir rufen Sie {when} zurück.",
    ),
    "callback_when": ("Gern, wann sollen wir Sie zurückrufen?",),
    "callback_bye": ("Bis dann.",),
    "noted_when": ("Ich habe {when} notiert.", "Also {when}, notiert."),
    "lang_switch": ("Gern, machen wir auf Deutsch weiter.",),
    "handed_over": ("Ein Mitarbeiter übernimmt jetzt.",),
    "reask": (
        "Entschuldigung, {question}",
        "Nur zur Sicherheit: {question}",
        "Damit Ihre Unterlagen vollständig sind: {question}",
    ),
    "q_incident_description": ("Können Sie mir sagen, was passiert ist?",),
    "q_policyholder_name": ("Wie ist bitte Ihr vollständiger Name?",),
    "q_policy_number": ("Wie lautet Ihre Versicherungsnummer?",),
    "q_incident_datetime": ("Wann ist es passiert, an welchem Tag und um wie viel Uhr?",),
    "q_incident_location": ("Wo ist es passiert?",),
    "q_injuries": ("Wurde jemand verletzt?",),
    "q_involved_parties": ("War noch jemand beteiligt?",),
    "q_medical_records": (
        "Haben Sie ärztliche Unterlagen, von einem Arzt oder einem Krankenhaus?",
    ),
    "q_pre_existing_damages": ("Gab es schon vorher einen Schaden?",),
    "q_witnesses": ("Gab es Zeugen?",),
    "q_policyholder_email": ("Wie ist bitte Ihre E-Mail-Adresse?",),
    "q_policyholder_phone": ("Unter welcher Telefonnummer können wir Sie erreichen?",),
    "q_email": ("Welche E-Mail-Adresse soll ich für Ihre Unterlagen notieren: {label}?",),
    "q_phone": ("Welche Telefonnummer soll ich für Ihre Unterlagen notieren: {label}?",),
    "q_when": ("Wann war das, an welchem Tag und um wie viel Uhr?",),
    "q_datetime": ("Welches Datum und welche Uhrzeit soll ich notieren: {label}?",),
    "q_birth": ("Wie lautet Ihr Geburtsdatum?",),
    "q_name": ("Welchen Namen soll ich für Ihre Unterlagen notieren: {label}?",),
    "q_code": ("Welche Nummer soll ich für Ihre Unterlagen notieren: {label}?",),
    "q_clause": ("Können Sie mir für Ihre Unterlagen Folgendes sagen: {label}?",),
    "q_choice": ("Was ist Ihnen für Ihre Unterlagen lieber: {label}?",),
    "q_thing": ("Können Sie mir für Ihre Unterlagen Folgendes sagen: {label}?",),
    "q_named": ("Können Sie mir für Ihre Unterlagen Folgendes sagen: {label}?",),
    "on_date_time": ("am {weekday}, dem {day}. {month}, um {time}",),
    "date_time": ("{weekday}, den {day}. {month}, um {time}",),
    "date": ("{weekday}, den {day}. {month}",),
    "time": ("{hour}:{minute} Uhr",),
    "months": (
        "Januar",
        "Februar",
        "März",
        "April",
        "Mai",
        "Juni",
        "Juli",
        "August",
        "September",
        "Oktober",
        "November",
        "Dezember",
    ),
    "weekdays": ("Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag"),
    "that": ("das",),
    "language_name": ("Deutsch",),
}
