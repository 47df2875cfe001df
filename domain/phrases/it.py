"""Italian phrases (formal "Lei"; the bot speaks of itself in the feminine, as in French)."""

TABLE = {
    "hello": "Buongiorno, sono {bot_name} di {bot_company}. Come posso aiutarla?",
    "goodbye": "Grazie per aver chiamato {bot_company}. Buona giornata, arrivederci!",
    "error": "Mi scusi, ho avuto un problema tecnico. Può ripetere, per favore?",
    "timeout_silence": "È ancora in linea?",
    "timeout_loading": "Controllo subito, un attimo.",
    "connect_agent": "La metto in contatto con un operatore, resti in linea.",
    "end_call_to_connect_agent": "Certo, la trasferisco subito a un operatore.",
    "calltransfer_failure": "Mi scusi, non sono riuscita a raggiungere un operatore. "
    "Continuiamo insieme.",
    "ivr_language": "Per l'italiano, prema {digit}.",
    "content_filter": "Mi scusi, non posso parlare di questo. Come posso aiutarla con la sua "
    "pratica?",
    "hold": "Un attimo, per favore.",
    "media_lost": "Mi scusi, un problema tecnico interrompe questa chiamata. La preghiamo di "
    "richiamarci. Arrivederci!",
}
