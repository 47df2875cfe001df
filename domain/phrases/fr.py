"""French phrases (the bot speaks of itself in the feminine, as the default Amélie)."""

TABLE = {
    "hello": "Bonjour, je suis {bot_name} de {bot_company}. Comment puis-je vous aider ?",
    "goodbye": "Merci d'avoir appelé {bot_company}. Bonne journée, au revoir !",
    "error": "Désolée, j'ai eu un problème technique. Pouvez-vous répéter, s'il vous plaît ?",
    "timeout_silence": "Êtes-vous toujours là ?",
    "timeout_loading": "Je vérifie cela pour vous, un instant.",
    "connect_agent": "Je vous mets en relation avec un conseiller, ne quittez pas.",
    "end_call_to_connect_agent": "Bien sûr, je vous transfère à un conseiller.",
    "calltransfer_failure": "Désolée, aucun conseiller n'est disponible. Continuons ensemble.",
    "ivr_language": "Pour le français, tapez {digit}.",
    "content_filter": "Désolée, je ne peux pas parler de cela. Revenons à votre dossier.",
    "hold": "Un instant, s'il vous plaît.",
    "media_lost": "Désolée, un problème technique interrompt cet appel. Rappelez-nous. Au revoir !",
}
