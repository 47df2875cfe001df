"""English phrases: the source every other table translates."""

TABLE = {
    "hello": "Hello, I'm {bot_name} from {bot_company}. How can I help you today?",
    "goodbye": "Thank you for calling {bot_company}. Have a nice day, goodbye!",
    "error": "Sorry, I had a technical problem. Could you repeat that, please?",
    "timeout_silence": "Are you still there?",
    "timeout_loading": "Let me check that for you, one moment.",
    "connect_agent": "I'm connecting you to an agent, please hold.",
    "end_call_to_connect_agent": "Of course, I'm transferring you to a human agent now.",
    "calltransfer_failure": "Sorry, I could not reach an agent. Let's continue together.",
    "ivr_language": "For English, press {digit}.",
    "content_filter": "Sorry, I can't talk about that. How else can I help with your claim?",
    "hold": "One moment, please.",
    "media_lost": "Sorry, a technical problem cuts this call short. Please call us back. Goodbye!",
}
