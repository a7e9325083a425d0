"""What a reflection message is about: its introduction set aside, its tension mirrored."""

from __future__ import annotations

from assistant.core.concern import concern, mirror_sentence
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
