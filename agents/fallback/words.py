"""The word lists the fallback policy reads leads with, in en, es, pt, fr, de and it.

Every entry is in the folded form the readers match on (`domain.language.plain`: lower case, no
accents, "'" as the apostrophe). They are lists, not grammars, on purpose: without a model the
policy stores a fact only when a word list or a pattern vouches for it, and says "I don't know"
otherwise. Adding a language is adding its words to each list.

A word that is also a common first name (Will, May, Mia, Ella) is left out of the lists that
refuse names, so "Will" is still a name; the price of that is that a lone "will" passes too.
"""

from __future__ import annotations

__all__ = [
    "COMPANY_CUES",
    "COMPANY_CUES_WEAK",
    "COUNTRIES",
    "EVASIVE_PHRASES",
    "FUNCTION_WORDS",
    "GENERIC_WORDS",
    "GREETINGS",
    "LABEL_WORDS",
    "LEGAL_SUFFIXES",
    "MONTHS",
    "MONTH_PREPOSITIONS",
    "NATIONALITIES",
    "NAME_PARTICLES",
    "NAME_PHRASES_STRONG",
    "NAME_PHRASES_WEAK",
    "NEED_CUES",
    "NO_BUDGET_PHRASES",
    "NOT_NAME_WORDS",
    "NUMBER_WORDS",
    "PRICE_CUES",
    "PRONOUN_OBJECTS",
    "QUESTION_WORDS",
    "ROLE_WORDS",
    "SELF_REFERENCE_ENDINGS",
    "SOON_STRONG",
    "SOON_WEAK",
    "STOP_WORDS",
    "SURNAMES_AFTER_PARTICLE",
    "TIME_UNITS",
    "UNIT_WORDS",
    "WEEKDAYS",
    "WORK_WORDS",
]


def _words(*groups: str) -> frozenset[str]:
    return frozenset(word for group in groups for word in group.split())


FUNCTION_WORDS = _words(
    # en
    "a an the this that these those it its it's i i'm i'd i've me my mine we we're we'd us our "
    "you you're your he she they them their his her is are was were be been am do does did "
    "doing have has had can could would shall should might must not no yes to of in on at for "
    "from with by about as and or but if so than then there here what what's which who whom "
    "whose where when why how all any some one just also too very really only please im ive "
    "dont don't didnt didn't cant can't wont won't isnt isn't",
    # es
    "el la los las lo un una unos unas de del al a en con por para sin sobre que como cual "
    "quien donde cuando cuanto cuanta cuantos es son soy eres somos esta estan estoy estamos "
    "este esto ese esa eso mi mis tu tus su sus nuestro nuestra nuestros yo nosotros ustedes "
    "usted ellos me te se le les nos y o pero si no ya muy mas menos tambien hay tengo tiene "
    "tenemos tienen porque pues entonces aqui alli ahi todo todos",
    # pt
    "o os as um uma uns umas do da dos das no na nos nas em com sem qual quem onde quando "
    "quanto quanta e ou mas nao sim eu voce voces ele eles elas lhe meu minha meus minhas seu "
    "sua nosso nossa isso isto esse essa sou sao estou tem tenho temos ha muito tambem ja "
    "aqui ali tudo",
    # fr
    "le les l un une des du d au aux et ou mais donc ni car qui quoi quel quelle quand comment "
    "combien pourquoi je j tu il nous vous ils elles moi toi lui leur mon ma mes ton ta tes son "
    "sa ses notre votre vos ce cet cette ces ca c est sont suis sommes etes as avons avez ont "
    "pas ne non oui tres plus moins aussi y dans sur avec pour par sans chez",
    # de
    "der die das den dem des ein eine einen einem einer und oder aber wenn dass ich du er sie "
    "es wir ihr mich mir dich dir uns euch mein meine dein sein seine unser unsere ihre ist "
    "sind bin bist war haben habe hat hatte nicht kein keine ja nein sehr mehr auch was wer "
    "wie wo wann warum welche mit fur von zu im am an auf bei aus nach",
    # it
    "il lo gli i di da della dei degli su tra fra ma se che chi cosa dove quanto perche io "
    "lui noi voi loro mi ti si ci vi mio miei mie tuo tua suo nostro nostra questo questa "
    "quello quella sono sei siamo ho hai abbiamo hanno molto piu anche ecco qui",
)
"""Articles, pronouns, auxiliaries, prepositions, conjunctions, question words."""

GENERIC_WORDS = _words(
    # en
    "want wanted wanna need needs know knew think thought like see look looking interested "
    "interest info information details detail more less something anything nothing stuff "
    "thing things question questions ask asking help tell talk say said wonder wondering "
    "curious still yet already later now maybe perhaps sure unsure idea good great fine nice "
    "cool bad awful terrible horrible useless stupid ridiculous annoying boring weird strange "
    "crazy silly funny joke kidding spam fake bot robot machine serious lol haha hahaha hmm hm "
    "ok okay yeah yep nope nah thanks thank sorry hello hi hey bye test testing price prices "
    "pricing cost costs expensive cheap free money budget quote product products service "
    "services company business anyway whatever usually charge myself yourself ourselves "
    "freelance freelancer self-employed independent new back ready happy glad excited busy "
    "available late early",
    # es
    "quiero queria quisiera querer necesito necesitamos saber conocer ver informacion "
    "detalles algo nada cosa cosas pregunta preguntas ayuda hablar decir preguntar interesa "
    "interesado interesada bueno buena malo mala bien mal genial inutil estupido ridiculo raro "
    "aburrido broma jaja jajaja precio precios costo costos caro barato gratis dinero "
    "presupuesto cotizacion producto productos servicio servicios empresa negocio hola gracias "
    "perdon vale claro dale mismo misma autonomo autonoma independiente",
    # pt
    "quero gostaria precisamos preciso informacao informacoes coisa coisas pergunta perguntas "
    "ajuda falar dizer perguntar interessado interessada bom boa mau ruim bem otimo legal "
    "chato estranho brincadeira kkk kkkk preco precos custo dinheiro orcamento cotacao produto "
    "produtos servico servicos oi ola obrigado obrigada desculpa beleza blz tranquilo",
    # fr
    "veux voudrais voulais vouloir besoin savoir connaitre voir infos chose choses aide parler "
    "dire demander interesse interessee bon bonne mauvais super nul inutile stupide ridicule "
    "bizarre ennuyeux blague prix cout cher gratuit argent devis produit produits entreprise "
    "societe bonjour salut merci pardon",
    # de
    "mochte wollen brauche brauchen wissen kennen sehen informationen etwas nichts sache "
    "sachen frage fragen hilfe sprechen sagen interessiert gut schlecht toll nutzlos dumm "
    "lacherlich seltsam langweilig witz preis preise kosten teuer billig kostenlos geld "
    "angebot produkt produkte dienst firma unternehmen hallo danke bitte entschuldigung",
    # it
    "voglio vorrei volevo volere bisogno sapere conoscere vedere informazione informazioni "
    "dettagli qualcosa niente cose domanda domande aiuto parlare chiedere interessato buono "
    "cattivo bene male ottimo inutile strano noioso scherzo prezzo prezzi costo economico soldi "
    "preventivo prodotto prodotti servizio servizi azienda ciao grazie scusa",
)
"""Words that carry no fact in a sales chat: wanting, knowing, judging, greeting, prices."""

ROLE_WORDS = _words(
    "owner ceo cto cfo coo founder cofounder manager director head boss partner consultant "
    "developer designer student intern customer client dueno duena gerente director directora "
    "jefe jefa socio socia fundador fundadora cliente dono dona diretor diretora chefe gestor "
    "patron patronne directeur directrice gerant fondateur inhaber geschaftsfuhrer leiter chef "
    "grunder titolare direttore direttrice responsabile fondatore",
)
"""Roles ("I'm the owner"): never a name."""

WORK_WORDS = _words(
    "crm erp website site web shop store online ecommerce e-commerce app apps application "
    "software platform system tool tools solution marketing sales team project tienda sitio "
    "pagina aplicacion sistema plataforma herramienta solucion proyecto equipo loja aplicativo "
    "ferramenta solucao projeto equipe boutique logiciel outil projet webseite laden "
    "onlineshop werkzeug projekt negozio sito progetto strumento",
)
"""Things leads buy: a need, never a name."""

LABEL_WORDS = _words(
    "phone mobile cell celular cel movil work trabajo trabalho office oficina escritorio home "
    "casa personal private privado mom mum dad mama papa mae pai wife husband esposa marido "
    "telephone telefone telefono handy",
)
"""What people put in a WhatsApp profile name that is not their name ("Mom ❤️ phone")."""

NATIONALITIES = _words(
    "american british english canadian mexican brazilian argentinian argentine chilean "
    "colombian peruvian spanish portuguese french german italian dutch swiss european latino "
    "latina brasileiro brasileira mexicano mexicana argentino argentina chileno chilena "
    "colombiano colombiana peruano peruana espanol espanola portugues portuguesa "
    "francesa aleman alemana italiano italiana francais francaise allemand deutsch deutsche "
    "italienisch italiener",
)
"""Capitalised after "I'm" in English ("I'm Brazilian"), never a name ("francés" is left out:
Frances is a name)."""

NOT_NAME_WORDS = (
    FUNCTION_WORDS | GENERIC_WORDS | ROLE_WORDS | WORK_WORDS | LABEL_WORDS | NATIONALITIES
) - _words("will may mia ella elle lei ai")
"""A candidate name with one of these words (outside a particle) is not a name."""

STOP_WORDS = FUNCTION_WORDS | _words(
    "will may can could would should does did do is are there please you your we our us "
    "puedo pueden podemos puede podem posso pode peut peux puis kann konnen konnt posso potete "
    "puo c'e hay tem gibt",
)
"""What the FAQ matcher ignores: the words every question has."""

NAME_PARTICLES = _words(
    "de da do dos das del della di du van von der den la le y e bin ibn al el st",
)
"""Allowed inside a name (María de la Cruz, Ludwig van Beethoven), never first or last."""

GREETINGS = _words(
    "hi hello hey hola buenas buenos oi ola bonjour salut hallo servus ciao buongiorno "
    "buonasera good morning afternoon evening dias tardes noches bom boa dia tarde noite "
    "guten tag morgen abend",
)
"""Greeting words stripped before a short answer is read as a name."""

SELF_REFERENCE_ENDINGS = _words("here speaking aqui aca ici hier qui")
"""Trailing words of "Sam here", "Ana aquí": dropped from the name."""

NAME_PHRASES_STRONG: tuple[str, ...] = (
    "my name is", "my name's", "name is", "name's", "call me", "me llamo", "mi nombre es",
    "me chamo", "meu nome e", "je m'appelle", "je m appelle", "mon nom est", "mon nom c'est",
    "ich heisse", "mein name ist", "mi chiamo", "il mio nome e", "mio nome e",
)
"""Phrases after which a name follows, whatever its case."""

NAME_PHRASES_WEAK: tuple[str, ...] = (
    "i'm", "i am", "this is", "it's", "its", "soy", "yo soy", "aqui es", "habla",
    "sou", "eu sou", "aqui e", "quem fala e", "je suis", "moi c'est", "c'est", "ich bin",
    "hier ist", "hier spricht", "sono", "io sono", "qui e", "parla",
)
"""Phrases after which a name follows only if it is capitalised ("I'm Ana", not "I'm fine"),
unless the bot just asked for the name."""

COMPANY_CUES: tuple[str, ...] = (
    "my company is", "our company is", "the company is", "company is", "company name is",
    "mi empresa es", "nuestra empresa es", "la empresa es", "minha empresa e",
    "nossa empresa e", "a empresa e", "mon entreprise est", "notre entreprise est",
    "ma societe est", "meine firma ist", "unsere firma ist", "la mia azienda e",
    "la nostra azienda e",
)
"""Phrases that name the lead's company, whatever its case ("my company is acme")."""

COMPANY_CUES_WEAK: tuple[str, ...] = (
    "i work at", "i work for", "trabajo en", "trabajo para", "trabalho na", "trabalho no",
    "trabalho em", "trabalho para", "je travaille chez", "je travaille pour", "ich arbeite bei",
    "lavoro per", "lavoro presso", "lavoro in", "we are", "we're", "somos", "nous sommes",
    "wir sind", "siamo",
)
"""Phrases after which a company follows only if it is capitalised ("I work at Globex",
"somos a Padaria Pão Quente"; not "I work at a bank", "we are 20 people")."""

LEGAL_SUFFIXES = _words(
    "ltd ltda llc inc corp co plc gmbh ag kg ug sa sas sarl sl srl spa me eireli bv nv oy ab "
    "pty",
)
"""A capitalised run ending in one of these is a company ("Acme Ltd", "Foo GmbH")."""

COUNTRIES = _words(
    "brazil brasil mexico spain espana argentina chile colombia peru portugal usa us uk "
    "france francia germany alemania deutschland italy italia canada ecuador uruguay "
    "paraguay bolivia venezuela england london madrid lisbon lisboa paris berlin rome roma "
    "milan milano barcelona miami",
)
"""Places that follow "from" but are not companies ("I'm Ana from Brazil")."""

NEED_CUES: tuple[str, ...] = (
    "we need", "i need", "need", "we want", "i want", "want", "looking for", "interested in",
    "we'd like", "i'd like", "we would like", "i would like", "necesito", "necesitamos",
    "quiero", "queremos", "busco", "buscamos", "me interesa", "nos interesa", "preciso",
    "precisamos", "quero", "procuro", "procuramos", "tenho interesse em", "temos interesse em",
    "j'ai besoin", "nous avons besoin", "on a besoin", "je cherche", "nous cherchons",
    "je voudrais", "nous voudrions", "ich brauche", "wir brauchen", "ich suche", "wir suchen",
    "ich mochte", "wir mochten", "ho bisogno di", "abbiamo bisogno di", "cerco", "cerchiamo",
    "vorrei", "vorremmo", "ci serve", "mi serve", "ci servono", "mi servono",
)
"""Phrases that introduce what the lead needs (the words after them must say what)."""

PRONOUN_OBJECTS = _words("it this that them lo la esto eso isso isto ca le es das ne")
"""Objects that say nothing ("need it in March"): no need follows."""

EVASIVE_PHRASES: tuple[str, ...] = (
    # en
    "not sure", "unsure", "no idea", "don't know", "dont know", "do not know", "dunno", "idk",
    "it depends", "depends", "maybe", "perhaps", "we'll see", "well see", "let me think",
    "not yet", "no clue", "who knows", "hard to say", "can't say", "cant say", "undecided",
    "tbd", "to be defined", "later",
    # es
    "no se", "no lo se", "ni idea", "depende", "quizas", "quiza", "tal vez", "a lo mejor",
    "todavia no", "aun no", "ya veremos", "no estoy seguro", "no estoy segura", "no sabria",
    "mas adelante", "despues",
    # pt
    "nao sei", "sei la", "talvez", "ainda nao", "vamos ver", "nao tenho certeza",
    "nao faco ideia", "mais pra frente", "depois", "quem sabe",
    # fr
    "je ne sais pas", "je sais pas", "sais pas", "aucune idee", "ca depend", "peut-etre",
    "peut etre", "on verra", "pas encore", "pas sur", "plus tard",
    # de
    "weiss nicht", "weiss ich nicht", "keine ahnung", "kommt darauf an", "kommt drauf an",
    "vielleicht", "noch nicht", "mal sehen", "nicht sicher", "spater",
    # it
    "non so", "non lo so", "dipende", "forse", "vedremo", "non ancora", "boh",
    "non sono sicuro", "non sono sicura", "piu avanti", "dopo",
)
"""A lead saying they do not know (yet): a non-answer, whatever else it looks like."""

NO_BUDGET_PHRASES: tuple[str, ...] = (
    "no budget", "zero budget", "don't have a budget", "dont have a budget",
    "do not have a budget", "don't have budget", "dont have budget", "without budget",
    "without a budget", "no money", "sin presupuesto", "no tenemos presupuesto",
    "no tengo presupuesto", "no hay presupuesto", "sem orcamento", "nao temos orcamento",
    "nao tenho orcamento", "nao ha orcamento", "pas de budget", "aucun budget",
    "sans budget", "kein budget", "keinen budget", "ohne budget", "nessun budget",
    "senza budget", "non abbiamo budget", "non ho budget",
)
"""An explicit "no budget": a real answer (amount unknown), unlike "not sure"."""

UNIT_WORDS = _words(
    "people persons employees staff users user seats sellers salespeople reps drivers stores "
    "shops locations branches days day weeks week months month years year hours hour minutes "
    "percent customers clients orders products items units members visitors followers "
    "messages leads contacts clientes pedidos productos miembros visitas seguidores mensajes "
    "contactos personas empleados usuarios vendedores tiendas dias semanas meses anos horas "
    "pessoas funcionarios usuarios lojas semanas meses anos horas personnes employes "
    "utilisateurs jours semaines mois ans heures personen mitarbeiter nutzer tage wochen "
    "monate jahre stunden persone dipendenti utenti giorni settimane mesi anni ore",
)
"""Words after a bare number that make it a count, not an amount ("20 people")."""

MONTHS = _words(
    "january february march april may june july august september october november december "
    "enero febrero marzo abril mayo junio julio agosto septiembre setiembre octubre noviembre "
    "diciembre janeiro fevereiro marco maio junho julho setembro outubro novembro dezembro "
    "janvier fevrier mars avril mai juin juillet aout septembre octobre novembre decembre "
    "januar janner februar marz juni juli oktober dezember gennaio febbraio aprile maggio "
    "giugno luglio settembre ottobre dicembre",
)
"""Month names; a month is a timeline."""

QUESTION_WORDS = _words(
    "how what which who where when why do does did is are can could would should "
    "como que cual quien donde cuando cuanto cuanta cuantos cuantas hay tienen tiene puedo "
    "pueden qual quem onde quanto quanta quantos quantas tem voces posso podem "
    "comment quel quelle qui ou quand combien pourquoi est-ce avez peut-on "
    "wie was welche welcher wer wo wann warum gibt habt kann konnen "
    "come cosa quale chi dove quanti avete potete c'e",
)
"""A clause starting with one of these is a question, even without "?"."""

PRICE_CUES: tuple[str, ...] = (
    "price", "prices", "pricing", "how much", "cost", "costs", "charge", "fee", "fees", "rates",
    "plans", "precio", "precios", "cuanto cuesta", "cuanto cuestan", "cuanto sale",
    "cuanto cobran", "cuanto vale", "tarifa", "tarifas", "preco", "precos", "quanto custa",
    "quanto custam", "quanto cobram", "valor", "valores", "prix", "combien", "coute",
    "tarif", "tarifs", "preis", "preise", "kostet", "kosten", "wie viel", "wieviel",
    "prezzo", "prezzi", "quanto costa", "quanto costano", "tariffa",
)
"""Words of a question about prices, answered from the offerings' prices."""

SURNAMES_AFTER_PARTICLE = _words(
    "silva santos souza sousa oliveira costa lima almeida carvalho rocha paula jesus assis "
    "andrade castro moura freitas melo cunha luz conceicao nascimento fonseca leon cruz torre "
    "fuente paz rosa gaulle vinci medici",
)
"""One word after "de/da/do/dos" that is a surname ("João da Silva"), not a company ("Ana de
Acme")."""

WEEKDAYS = _words(
    "monday tuesday wednesday thursday friday saturday sunday lunes martes miercoles jueves "
    "viernes sabado domingo segunda-feira terca-feira quarta-feira quinta-feira sexta-feira "
    "lundi mardi mercredi jeudi vendredi samedi dimanche montag dienstag mittwoch donnerstag "
    "freitag samstag sonntag lunedi martedi mercoledi giovedi venerdi sabato domenica",
)
"""Weekday names: a timeline only as the answer to "when?"."""

NUMBER_WORDS: tuple[str, ...] = (
    "a few", "a couple of", "couple of", "few", "a", "an", "one", "two", "three", "four",
    "five", "six", "seven", "eight", "nine", "ten", "twelve", "un", "una", "uno", "dos", "tres",
    "cuatro", "cinco", "seis", "unos", "unas", "pocos", "pocas", "um", "dois", "duas",
    "quatro", "alguns", "algumas", "poucos", "poucas", "deux", "trois", "quatre", "cinq",
    "quelques", "ein paar", "ein", "eine", "einem", "einer", "zwei", "drei", "vier", "funf",
    "sechs", "paar", "einigen", "due", "tre", "quattro", "cinque", "sei", "qualche",
)
"""Counts written as words ("in two weeks", "en dos semanas")."""

TIME_UNITS: tuple[str, ...] = (
    "days", "day", "weeks", "week", "months", "month", "years", "year", "quarters", "quarter",
    "dias", "dia", "semanas", "semana", "meses", "mes", "anos", "ano", "trimestres",
    "trimestre", "jours", "jour", "semaines", "mois", "ans", "annees", "annee", "tagen", "tage",
    "tag", "wochen", "woche", "monaten", "monate", "monat", "jahren", "jahre", "jahr",
    "quartal", "monats", "jahres", "quartals", "semester", "semestre", "giorni", "giorno",
    "settimane", "settimana", "mesi", "mese", "anni", "anno",
)
"""Units of "in N weeks"."""

MONTH_PREPOSITIONS: tuple[str, ...] = (
    "in", "by", "before", "until", "till", "from", "around", "early", "mid", "late",
    "end of", "beginning of", "start of", "en", "para", "antes de", "a partir de", "desde",
    "hasta", "a fines de", "a finales de", "a principios de", "em", "ate", "no inicio de",
    "no fim de", "no final de", "dans", "avant", "d'ici", "des", "fin", "debut", "ab", "bis",
    "im", "vor", "anfang", "ende", "mitte", "entro", "per", "prima di", "inizio", "fine",
    "meta", "a",
)
"""Words before a month that make it a timeline outside an answer to "when?" ("in March";
"May" alone may be a name)."""

SOON_STRONG: tuple[str, ...] = (
    "asap", "as soon as possible", "right away", "immediately", "urgently", "urgent",
    "lo antes posible", "cuanto antes", "lo mas pronto posible", "de inmediato",
    "inmediatamente", "urgente", "o quanto antes", "o mais rapido possivel",
    "o mais breve possivel", "imediatamente", "des que possible", "au plus vite",
    "au plus tot", "immediatement", "so schnell wie moglich", "sofort", "dringend",
    "baldmoglichst", "umgehend", "il prima possibile", "al piu presto", "subito",
)
""""As soon as possible" in every language: a timeline anywhere."""

SOON_WEAK: tuple[str, ...] = (
    "now", "right now", "today", "tomorrow", "soon", "this week", "this month", "this year",
    "this quarter", "ahora", "ya", "hoy", "manana", "pronto", "este mes", "este ano",
    "esta semana", "agora", "ja", "hoje", "amanha", "logo", "em breve", "maintenant",
    "aujourd'hui", "demain", "bientot", "ce mois-ci", "cette annee", "cette semaine", "jetzt",
    "heute", "morgen", "bald", "diesen monat", "dieses jahr", "diese woche", "adesso", "ora",
    "oggi", "domani", "presto", "questo mese", "quest'anno", "questa settimana",
)
"""Times that count only as the answer to "when?" ("right now we use Excel" is no timeline)."""
