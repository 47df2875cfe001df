"""Spanish phrases (formal "usted", as a call center speaks)."""

TABLE = {
    "hello": "Hola, soy {bot_name} de {bot_company}. ¿En qué puedo ayudarle hoy?",
    "goodbye": "Gracias por llamar a {bot_company}. Que tenga un buen día, ¡adiós!",
    "error": "Disculpe, he tenido un problema técnico. ¿Podría repetirlo, por favor?",
    "timeout_silence": "¿Sigue ahí?",
    "timeout_loading": "Permítame comprobarlo, un momento.",
    "connect_agent": "Le paso con un agente, no cuelgue, por favor.",
    "end_call_to_connect_agent": "Por supuesto, ahora mismo le transfiero a un agente.",
    "calltransfer_failure": "Disculpe, no he podido contactar con un agente. Sigamos juntos.",
    "ivr_language": "Para español, pulse {digit}.",
    "content_filter": "Disculpe, no puedo hablar de eso. ¿En qué más puedo ayudarle con su "
    "expediente?",
    "hold": "Un momento, por favor.",
    "media_lost": "Disculpe, un problema técnico interrumpe esta llamada. Vuelva a llamarnos, "
    "por favor. ¡Adiós!",
}
