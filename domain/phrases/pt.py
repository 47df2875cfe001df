"""Portuguese phrases, worded to suit both Portugal and Brazil (no gendered thanks)."""

TABLE = {
    "hello": "Olá, sou {bot_name}, da {bot_company}. Em que posso ajudar?",
    "goodbye": "A {bot_company} agradece a sua chamada. Tenha um bom dia, adeus!",
    "error": "Desculpe, tive um problema técnico. Pode repetir, por favor?",
    "timeout_silence": "Ainda está aí?",
    "timeout_loading": "Vou verificar, um momento.",
    "connect_agent": "Vou passar a chamada a um assistente, aguarde por favor.",
    "end_call_to_connect_agent": "Com certeza, vou transferir a chamada para um assistente.",
    "calltransfer_failure": "Desculpe, não consegui falar com um assistente. Vamos continuar "
    "juntos.",
    "ivr_language": "Para português, pressione {digit}.",
    "content_filter": "Desculpe, não posso falar sobre isso. Em que mais posso ajudar com o "
    "seu processo?",
    "hold": "Um momento, por favor.",
    "media_lost": "Desculpe, um problema técnico interrompe esta chamada. Por favor, volte a "
    "ligar-nos. Adeus!",
}
