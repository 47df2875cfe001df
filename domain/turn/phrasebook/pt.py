"""What the small-model policy says in Portuguese (keys: see `en`).

Worded for Portugal and Brazil alike: no clitic pronoun whose place differs ("diga-me" /
"me diga"), no "tu" nor "você" where the verb alone is polite.
"""

TABLE: dict[str, tuple[str, ...]] = {
    "ack": (
        "Obrigada, fica anotado.",
        "Obrigada.",
        "Muito bem, está anotado.",
        "Perfeito, obrigada.",
        "Anotado.",
        "Entendido.",
    ),
    "ack_sorry": (
        "Lamento muito o sucedido.",
        "Compreendo, é uma situação desagradável.",
        "Compreendo.",
    ),
    "ack_nothing": ("Compreendo.", "Está bem.", "Muito bem."),
    "anything_else": (
        "Deseja acrescentar mais alguma coisa?",
        "Há mais alguma coisa que eu deva anotar?",
        "Mais alguma coisa?",
    ),
    "bot_name": (
        "Sou {bot_name}, assistente virtual de {bot_company}.",
        "Como disse, sou {bot_name}, de {bot_company}.",
        "{bot_name}, de {bot_company}.",
    ),
    "robot": (
        "Sou {bot_name}, assistente virtual de {bot_company}, e posso ajudar já.",
        "Sim, sou {bot_name}, assistente virtual de {bot_company}.",
    ),
    "duration": ("Demora só alguns minutos.", "Só mais alguns minutos.", "Falta pouco."),
    "next_steps": (
        "Quando o seu processo estiver completo, um consultor vai analisar tudo e dar uma"
        " resposta em breve.",
        "Um consultor dá uma resposta em breve, quando o seu processo estiver completo.",
    ),
    "refund": (
        "Anotei a sua pergunta sobre o reembolso: é confirmado depois de o processo ser analisado.",
        "O reembolso é confirmado depois de o processo ser analisado.",
    ),
    "billing": (
        "Anotei a sua pergunta sobre a faturação: {bot_company} confirma qualquer última"
        " cobrança quando o pedido for tratado.",
        "{bot_company} confirma qualquer última cobrança quando o pedido for tratado.",
    ),
    "medical_advice": (
        "Não posso dar conselhos médicos: fale com um médico ou um farmacêutico, e ligue para"
        " as urgências se piorar.",
        "Para um conselho médico, fale com um médico ou um farmacêutico.",
    ),
    "advice": (
        "Prefiro não aconselhar sobre isso: um consultor vai indicar o que fazer.",
        "Um consultor vai indicar o que fazer quanto a isso.",
    ),
    "small_talk": (
        "Vamos deixar isso para outro momento e continuar com o seu processo.",
        "Vamos continuar com o seu processo.",
    ),
    "decline": (
        "Isso não é algo que eu possa fazer nesta chamada, mas ajudo com todo o gosto no seu"
        " pedido.",
        "Fico no seu pedido, é para isso que estou aqui.",
        "Vamos continuar com o seu pedido.",
    ),
    "no_prompt": (
        "Não posso revelar como funciono, mas ajudo com todo o gosto no seu pedido.",
        "Como disse, não posso revelar isso, mas ajudo com todo o gosto no seu pedido.",
    ),
    "question": (
        "Anotei a sua pergunta, e um consultor vai responder quando der seguimento.",
        "A sua pergunta fica anotada para o consultor.",
    ),
    "callback": ("Com certeza, voltamos a ligar {when}.", "Anotado, voltamos a ligar {when}."),
    "callback_when": ("Claro, quando quer que voltemos a ligar?",),
    "callback_bye": ("Até lá.",),
    "noted_when": ("Anotei {when}.", "Então, {when}, anotado."),
    "lang_switch": ("Claro, continuamos em português.",),
    "handed_over": ("Um consultor continua a partir daqui.",),
    "reask": (
        "Desculpe, {question}",
        "Só para confirmar, {question}",
        "Para completar o seu processo, {question}",
    ),
    "q_incident_description": ("Pode contar o que aconteceu?",),
    "q_policyholder_name": ("Qual é o seu nome completo, por favor?",),
    "q_policy_number": ("Qual é o número da sua apólice?",),
    "q_incident_datetime": ("Quando aconteceu, em que dia e a que horas?",),
    "q_incident_location": ("Onde aconteceu?",),
    "q_injuries": ("Houve algum ferido?",),
    "q_involved_parties": ("Havia mais alguém envolvido?",),
    "q_medical_records": ("Tem algum relatório médico, de um médico ou de um hospital?",),
    "q_pre_existing_damages": ("Já havia algum dano antes disto acontecer?",),
    "q_witnesses": ("Houve testemunhas?",),
    "q_policyholder_email": ("Qual é o seu e-mail, por favor?",),
    "q_policyholder_phone": ("Para que número de telefone podemos ligar?",),
    "q_email": ("Que e-mail devo anotar no seu processo: {label}?",),
    "q_phone": ("Que número de telefone devo anotar no seu processo: {label}?",),
    "q_when": ("Quando foi, em que dia e a que horas?",),
    "q_datetime": ("Que data e hora devo anotar no seu processo: {label}?",),
    "q_birth": ("Qual é a sua data de nascimento?",),
    "q_name": ("Que nome devo anotar no seu processo: {label}?",),
    "q_code": ("Para o seu processo, pode indicar este dado: {label}?",),
    "q_clause": ("Para o seu processo, pode indicar o seguinte: {label}?",),
    "q_choice": ("O que prefere para o seu processo: {label}?",),
    "q_thing": ("Para o seu processo, pode indicar o seguinte: {label}?",),
    "q_named": ("Para o seu processo, pode indicar o seguinte: {label}?",),
    "on_date_time": ("{weekday}, dia {day} de {month}, às {time}",),
    "date_time": ("{weekday}, dia {day} de {month}, às {time}",),
    "date": ("{weekday}, dia {day} de {month}",),
    "time": ("{hour}h{minute}",),
    "months": (
        "janeiro",
        "fevereiro",
        "março",
        "abril",
        "maio",
        "junho",
        "julho",
        "agosto",
        "setembro",
        "outubro",
        "novembro",
        "dezembro",
    ),
    "weekdays": (
        "segunda-feira",
        "terça-feira",
        "quarta-feira",
        "quinta-feira",
        "sexta-feira",
        "sábado",
        "domingo",
    ),
    "that": ("isso",),
    "language_name": ("português",),
}
