"""What a reflection message is about: its introduction set aside, its tension mirrored."""

from __future__ import annotations

from assistant.core.concern import MAX_MIRROR_WORDS, concern, mirror_phrase, mirror_sentence, mirror_sentences, shorten
from assistant.core.selection import stands_alone


def test_concern_sets_a_short_introduction_aside():
    message = "Jeg er plansjef i Horten. Vi vedtar små utbygginger i randsonen én sak av gangen, og ingen ser helheten."
    assert concern(message) == "Vi vedtar små utbygginger i randsonen én sak av gangen, og ingen ser helheten."
    assert concern("I'm a planning manager in Larvik. Our centre is losing its shops.") == "Our centre is losing its shops."


def test_concern_keeps_an_introduction_that_says_more():
    # A second clause carries the topic: it is not only an introduction.
    message = "Jeg er kommunalsjef og har lest om regenerativ ledelse. Hva betyr det i praksis?"
    assert concern(message) == message
    # A message that is nothing but an introduction is matched as it is.
    assert concern("Jeg er kultursjef i Tønsberg.") == "Jeg er kultursjef i Tønsberg."


def test_mirror_takes_the_sentence_with_the_tension():
    message = (
        "Jeg er kommunalsjef for samfunnsutvikling i en by på rundt 45 000 innbyggere. "
        "Plan og kultur trekker i hver sin retning, men ingen vil ta konflikten."
    )
    assert mirror_sentence(message) == "Plan og kultur trekker i hver sin retning, men ingen vil ta konflikten."
    english = "I lead the planning unit. Help me see where we stand. I'm unsure whether my role covers the centre."
    assert mirror_sentence(english) == "I'm unsure whether my role covers the centre."


def test_mirror_without_tension_skips_introductions_and_requests():
    assert mirror_sentence("Jeg er plansjef i Horten. Hjelp meg å tenke. Byen vokser raskt.") == "Byen vokser raskt."
    assert mirror_sentence("Byen vokser raskt. Skolene er fulle.") == "Byen vokser raskt."
    assert mirror_sentence("Jeg er plansjef i Horten.") == "Jeg er plansjef i Horten."


def test_a_sentence_stands_alone_unless_it_announces_or_refers_back():
    assert stands_alone("Kommunen har planmyndighet, men andre må investere.")
    assert not stands_alone("Noen mulige oversettelser:")
    assert not stands_alone("Dette gjør beslutningene mer forutsigbare.")
    assert not stands_alone("Den andre er samfunnsutvikling.")


def test_a_long_introduction_is_not_mirrored_when_a_tension_follows():
    # The introduction is long (13 words) and the tension has no "men": the tension is mirrored.
    message = (
        "Jeg er kommunalsjef for samfunnsutvikling i en by på rundt 45 000 innbyggere. "
        "Planavdelingen og kulturavdelingen har lenge trukket i hver sin retning."
    )
    assert mirror_phrase(message) == "Planavdelingen og kulturavdelingen har lenge trukket i hver sin retning"
    # Not even for the place it names: a place in an introduction is who the writer is, not the concern.
    placed = ("Jeg er kommunalsjef for samfunnsutvikling i Horten kommune med rundt 50 000 innbyggere. "
              "Plan og kultur trekker i hver sin retning.")
    assert mirror_phrase(placed) == "Plan og kultur trekker i hver sin retning"
    # An introduction that says more ("… og har lest om …") is the participant's topic, not only who they are.
    assert mirror_phrase("Jeg er kommunalsjef i Tønsberg og har lest om regenerativ ledelse. Hva betyr det?") == (
        "Jeg er kommunalsjef i Tønsberg og har lest om regenerativ ledelse"
    )


def test_mirror_keeps_the_named_place_beside_the_tension():
    message = (
        "Jeg er plansjef. Politikerne vil ha boliger på jordene, men vi har vedtatt arealnøytralitet. "
        "I Horten har vi lagt sentrumsplanen på is. Hva gjør jeg?"
    )
    assert mirror_sentences(message) == [
        "Politikerne vil ha boliger på jordene, men vi har vedtatt arealnøytralitet.",
        "I Horten har vi lagt sentrumsplanen på is.",
    ]
    assert mirror_phrase(message).endswith("I Horten har vi lagt sentrumsplanen på is")
    # Nynorsk and English alike: the decision and the person named beside it.
    assert mirror_sentences("Eg har bestemt meg for å seie nei oftare. Ordføraren Kari Lie støttar det.") == [
        "Eg har bestemt meg for å seie nei oftare.", "Ordføraren Kari Lie støttar det."]
    assert mirror_sentence("I'm a director. The town grows. We have decided to stop building on farmland.") == (
        "We have decided to stop building on farmland.")


def test_a_long_sentence_is_cut_at_a_clause_with_an_ellipsis_keeping_the_tension():
    long = ("Kalenderen min er full av møter fra morgen til kveld, og jeg rekker aldri å tenke langsiktig på hva byen "
            "trenger, fordi driftssaker og henvendelser fra politikere og innbyggere alltid kommer først og tar all tiden.")
    phrase = mirror_phrase(long)
    assert phrase == ("Kalenderen min er full av møter fra morgen til kveld, og jeg rekker aldri å tenke langsiktig på hva "
                      "byen trenger …")
    assert phrase.startswith("Kalenderen min er full av møter") and len(phrase.split()) <= MAX_MIRROR_WORDS + 1
    assert phrase[:-2].rstrip()[-1] not in ",;:"  # cut at a clause boundary, not after a comma left dangling
    # The tension late in a long sentence is kept; what is left out in front is marked too.
    late = ("Vi har hatt et godt samarbeid med næringslivet i mange år gjennom forum, møter, samlinger og felles "
            "prosjekter, men nå vil politikerne ha et kjøpesenter ved motorveien.")
    assert shorten(late, 12) == "… men nå vil politikerne ha et kjøpesenter ved motorveien."
    assert shorten("Byen vokser raskt.") == "Byen vokser raskt."


def test_dangling_openers_do_not_stand_alone():
    for text in ("Det gir grunnlag for kollektivtransport.", "Det gjorde det mulig å drøfte mønstre.",
                 "Også kulturen må med.", "Verdien ligger derfor i konkrete spørsmål.", "Den ene er organisasjonsutvikling."):
        assert not stands_alone(text), text
    for text in ("Det er fire byer i piloten.", "Det finnes mange verktøy."):
        assert stands_alone(text), text
