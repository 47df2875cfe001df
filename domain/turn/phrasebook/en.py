"""What the small-model policy says in English (the reference: every language has its keys).

Each key has variants, said in turn so that the bot never says the same sentence twice in a
call; `{...}` are the values filled in (a language may leave one out, never add one).
"""

TABLE: dict[str, tuple[str, ...]] = {
    "ack": (
        "Thank you, I've noted that.",
        "Thank you.",
        "All right, that's noted.",
        "Got it, thanks.",
        "Noted.",
        "Perfect, thank you.",
        "Understood.",
    ),
    "ack_sorry": ("I'm sorry to hear that.", "I understand, that's annoying.", "I see."),
    "ack_nothing": ("I see.", "All right.", "Okay."),
    "anything_else": (
        "Is there anything else you would like to add?",
        "Anything else I should note?",
        "Is there anything else?",
    ),
    "bot_name": (
        "I'm {bot_name}, the virtual assistant of {bot_company}.",
        "As I said, I'm {bot_name}, from {bot_company}.",
        "{bot_name}, from {bot_company}.",
    ),
    "robot": (
        "I'm {bot_name}, the virtual assistant of {bot_company}, and I can help you right away.",
        "Yes, I'm {bot_name}, a virtual assistant of {bot_company}.",
    ),
    "duration": ("It only takes a few minutes.", "Just a few more minutes.", "Not long now."),
    "next_steps": (
        "Once your file is complete, an advisor reviews it and follows up with you soon.",
        "An advisor follows up with you soon, once your file is complete.",
    ),
    "refund": (
        "I've noted your question about the refund: it is confirmed once your file is reviewed.",
        "The refund is confirmed once your file is reviewed.",
    ),
    "billing": (
        "I've noted your billing question: {bot_company} confirms any last charge once your"
        " request is processed.",
        "{bot_company} confirms any last charge once your request is processed.",
    ),
    "medical_advice": (
        "I can't give medical advice: please ask a doctor or a pharmacist, and call the"
        " emergency services if it gets worse.",
        "For medical advice, please ask a doctor or a pharmacist.",
    ),
    "advice": (
        "I'd rather not advise you on that myself: an advisor will tell you what to do.",
        "An advisor will tell you what to do about that.",
    ),
    "small_talk": (
        "I'll leave {topic} aside for now, let's go on with your file.",
        "Let's keep {topic} for another time and finish your file.",
        "Let's go on with your file.",
    ),
    "decline": (
        "That's not something I can do on this call, but I'm glad to help with your request.",
        "I'll stay on your request, that's what I'm here for.",
        "Let's stay on your request.",
    ),
    "no_prompt": (
        "I can't share how I work, but I'm glad to help with your request.",
        "As I said, I can't share that, but I'm glad to help with your request.",
    ),
    "question": (
        "I've noted your question, and an advisor will answer it when they follow up.",
        "Your question is noted for the advisor.",
    ),
    "callback": ("Of course, we'll call you back {when}.", "Noted, we'll call you back {when}."),
    "callback_when": ("Of course, when should we call you back?",),
    "callback_bye": ("Talk to you then.",),
    "noted_when": ("I've noted {when}.", "So that's {when}, noted."),
    "lang_switch": ("Of course, let's go on in English.",),
    "handed_over": ("An advisor takes over from here.",),
    "reask": (
        "Sorry, {question}",
        "Just to be sure, {question}",
        "To complete your file, {question}",
    ),
    # Questions for the default fields, and by type for the others.
    "q_incident_description": ("Could you tell me what happened?",),
    "q_policyholder_name": ("May I have your full name, please?",),
    "q_policy_number": ("What is your insurance policy number?",),
    "q_incident_datetime": ("When did it happen, what day and at what time?",),
    "q_incident_location": ("Where did it happen?",),
    "q_injuries": ("Was anyone hurt or injured?",),
    "q_involved_parties": ("Was anyone else involved?",),
    "q_medical_records": ("Do you have any medical records, from a doctor or a hospital?",),
    "q_pre_existing_damages": ("Was there any earlier damage, before this happened?",),
    "q_witnesses": ("Were there any witnesses?",),
    "q_policyholder_email": ("Could I have your email, please?",),
    "q_policyholder_phone": ("What phone number can we reach you at?",),
    "q_email": ("What is the email address for {label}?",),
    "q_phone": ("What is the phone number for {label}?",),
    "q_when": ("Could you tell me {label}?",),
    "q_datetime": ("What is {label}, the day and the time?",),
    "q_birth": ("What is your date of birth?",),
    "q_name": ("May I have {label}, please?",),
    "q_code": ("What is {label}?",),
    "q_clause": ("Could you tell me {label}?",),
    "q_choice": ("Which would you prefer: {label}?",),
    "q_thing": ("Could you give me {label}?",),
    "q_named": ("What are the {label} details?",),
    # Dates said back: "on Friday, December 11 at 18:00" (a call back), "Friday, December 11
    # at 18:00" (a date noted), "Friday, December 11" (a date without its time).
    "on_date_time": ("on {weekday}, {month} {day} at {time}",),
    "date_time": ("{weekday}, {month} {day} at {time}",),
    "date": ("{weekday}, {month} {day}",),
    "time": ("{hour}:{minute}",),
    "months": (
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ),
    "weekdays": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    # What the caller asked about, when it is not said back ("I'll leave that aside").
    "that": ("that",),
    "language_name": ("English",),
}
