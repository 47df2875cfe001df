"""English words (the reference: every other language has the same keys)."""

WORDS: dict[str, tuple[str, ...]] = {
    # --- turn taking and numbers (spoken forms) ---
    # The numbers zero to twelve, the n-th word meaning n.
    "numbers": tuple("zero one two three four five six seven eight nine ten eleven twelve".split()),
    # Ordinal words as said in dates ("December fifth"), the n-th word meaning n + 1.
    "ordinals": tuple(
        "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth"
        " thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth"
        " twentieth".split()
    ),
    # Said while dictating a number, an address or an email, besides `numbers`.
    "dictation": (
        "oh", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
        "nineteen", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty",
        "ninety", "hundred", "double", "triple", "dash", "dot", "at", "plus",
    ),
    # A number announced but not given yet, at the end of a turn.
    "lead_ins": ("number is", "number's", "phone is", "is", "it's"),
    # Listener noises, not a turn.
    "backchannels": (
        "mhm", "mm", "mmh", "mm-hmm", "hmm", "uh-huh", "uh huh", "ok", "okay", "yeah", "yep",
        "yes", "right", "sure", "i see", "alright", "all right", "uh", "um",
    ),
    # The months in order, each with its spoken forms separated by "|".
    "months": (
        "january|jan", "february|feb", "march|mar", "april|apr", "may", "june|jun", "july|jul",
        "august|aug", "september|sep|sept", "october|oct", "november|nov", "december|dec",
    ),
    "weekdays": ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"),
    # Words that say nothing specific: a value made only of them invents nothing.
    "stopwords": tuple(
        "the and for with from that this was were his her their they them you your our she"
        " him its has had have are but not all any can did does one two very into onto over"
        " near about then than there here when what who where which while just also been"
        " being some caller customer car vehicle accident claim incident".split()
    ),
    # --- intents ---
    # Words of the language that English never uses (English itself: none).
    "own": (),
    # How the language is called, in any language the caller may use.
    "language_names": ("english", "anglais"),
    # Words that ask for another language ("can we speak French").
    "switch": ("speak", "talk", "continue", "go on", "switch", "change", "carry on", "prefer",
               "rather", "in"),
    "says_goodbye": ("bye", "goodbye", "good bye"),
    # Besides a goodbye, what ends a call ("that's all").
    "goodbye": ("hang up", "that'?s all", "that is all", "nothing else", "end (the|this) call",
                "have a (nice|good) day"),
    # Who the caller may ask for, and how they ask to be put through.
    "human_asked": ("human", "person", "people", "agent", "someone", "somebody",
                    "representative", "operator", "advis[eo]r", "manager", "supervisor"),
    "human_wanted": ("human", "real person", "a person", "someone", "somebody", "agent",
                     "representative", "operator", "manager", "advis[eo]r"),
    "talk_to": ("talk", "speak", "transfer", "put me through", "connect", "get", "give", "want",
                "need"),
    "wants_human": (r"(human|agent|representative|operator)\W+please",),
    "callback": ("(call|ring|phone|get back to) (me|us) (back|again)",
                 "call me (later|tomorrow|on|at|in|this|next)", "call ?back"),
    # A sentence asking to be called back (its time is the reminder's, not a claim value).
    "callback_sentence": ("(call|ring|phone) (me|us) back",),
    # The bot's own question asking when to call back (`phrasing`'s "callback_when").
    "callback_asked": ("call you back",),
    "prompt": ("system prompt", "your (prompt|instructions|rules|guidelines|configuration)",
               "hidden instructions", "instructions (were you|you were|you have)",
               "above this line", "word for word", "repeat your", "reveal"),
    "breaking": (
        "ignore (all |any )?(your|the|previous|prior)", "forget (your|the|all|about)",
        "you are now", "pretend", "act as", "role.?play", "jailbreak", "developer mode",
        "from now on you",
        "(tell|write|sing|say|compose|give|recite) (me |us )?(a |an |some )?(\\w+ )?(joke|poem"
        "|song|story|riddle|rap|haiku|limerick)s?",
        "say (arr|meow|woof)",
    ),
    "small_talk": ("weather", "rain", "sunny", "snow", "football", "soccer", "match", "game",
                   "movie", "film", "music", "politics", "holiday", "do you like",
                   "your favou?rite", "did you (see|watch|hear)"),
    # A turn that answers nothing (an attempt to break the rules, small talk).
    "not_telling": ("ignore", "forget", "pretend", "you are now", "instructions", "prompt",
                    "joke", "poem", "song", "weather", "football", "match", "game",
                    "do you like"),
    # The caller's questions, by kind (the policy answers each from its phrase table).
    "q_bot_name": ("your name", "who (am i|are you|is this|is speaking)",
                   "who'?s (this|speaking)", "am i (speaking|talking) (to|with)",
                   "who am i talking"),
    "q_robot": ("robot", "a machine", "a bot", "an ai", "artificial", "a real person",
                "a human", "automated"),
    "q_duration": ("how long", "how much time"),
    "q_next_steps": ("what (happens|now|next)", "next steps?",
                     "when will (i|you|someone|they)", "will (someone|you) (call|contact)"),
    "q_refund": ("refund\\w*", "money back", "reimburs\\w*"),
    "q_billing": ("charged?", "bill(ed|ing)?", "pay(ment)?", "invoice", "fees?"),
    "q_advice": ("should i", "what (can|should) i (do|take)", "can i take"),
    # The caller cannot talk now (a call back ends the call).
    "leaving": ("can'?t talk", "meeting", "have to go", "need to (go|leave)", "busy", "not now",
                "driving", "must go", "gotta go"),
    # --- dates and times ---
    "tomorrow": ("tomorrow",),
    "after_tomorrow": ("day after tomorrow",),
    "yesterday": ("yesterday", "last night"),
    "before_yesterday": ("day before yesterday",),
    "today": ("today", "this (morning|afternoon|evening)", "tonight", "earlier", "just now",
              "an hour ago"),
    # "3 days ago": one group, the number of days.
    "days_ago": ("(\\d{1,2}) days? ago",),
    # "in 2 hours": two groups, the amount (a digit, else one) and the unit (min... or hours).
    "in_hours": ("in (\\d{1,2}|an?) (hour|minute)s?",),
    "later_in_day": ("afternoon", "evening", "tonight", "night"),
    # Before an hour said alone ("at 9"), and after it ("9 o'clock" is "at 9" too).
    "at_hour": ("at", "around", "about", "by"),
    "hour_words": (),
    "noon": ("noon", "midday"),
    "midnight": ("midnight",),
    # Between a day and its month ("5th of May") or before the year.
    "date_of": ("of",),
    "birth": ("born", "birth", "birthday"),
    # --- values ---
    # How the caller introduces their name (as written, any case): "my name is Jean Dupont".
    "name_intro": ("my name is", "my name's"),
    # Weaker introductions, read where a name is expected: "I'm Jean Dupont".
    "name_self": ("name is", "i am", "i'm", "this is"),
    # Lead-in words before a value ("yes, ...", "so, ..."), dropped from it.
    # (Hesitations, "um", "uh": see "hesitations", dropped by language.)
    "fillers": ("yes", "yeah", "well", "so", "and", "but", "ok", "okay", "sure", "hi", "hello"),
    # Not an answer: not knowing, thanks, a goodbye.
    # Hesitations the recogniser writes, dropped from values (as written, any case). English
    # and French calls drop both languages' ("uh", "euh"); another language lists its own, and
    # not one that is a word of it ("um" is Portuguese for "a", "er" German for "he").
    "hesitations": ("uh+", "um+", "er+m?", "hmm+", "mhm"),
    "no_answer": ("don'?t (know|have|remember)", "not sure", "no idea", "can'?t remember",
                  "repeat", "sorry", "thanks?", "thank you", "that'?s (all|everything)", "bye",
                  "goodbye"),
    # An email said aloud: "jean dot dupont at example dot com".
    "email_at": ("at",),
    "email_dot": ("dot",),
    # A phone number given as one ("call me on ...").
    "phone_cues": ("phone", "call me", "reach me", "my number", "number is"),
    # Where a place is relative to a landmark (as written, any case): "Lyon, near the station".
    "near": ("near", "next to", "close to", "opposite", "behind", "in front of", "across from"),
    # The bot's questions about a kind of value (folded).
    # The caller corrects what they said ("sorry, not Lyon: Villeurbanne").
    "correction": ("sorry", "actually", "no wait", "wait", "i mean", "correction", "rather"),
    "asks_email": ("e-?mail", "mail"),
    "asks_phone": ("phone", "telephone", "mobile", "reach you", "call you back"),
    "asks_when": ("when", "what time", "which day", "what day", "date"),
    "asks_name": ("name",),
}  # fmt: skip
