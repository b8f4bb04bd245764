"""What a question's form says about its answers (used to constrain Finish(...))."""

from __future__ import annotations

import pytest

from interlace.bench._scoring import answer_choices


@pytest.mark.parametrize(
    ("question", "choices"),
    [
        ("Which band was formed first, Wavves or Social Code?", ("Wavves", "Social Code")),
        ("Who is older, Ann, Bo or Cy?", ("Ann", "Bo", "Cy")),
        ("Are both Jim McBride and Neil Jordan American?", ("yes", "no")),
        ("Did Oasis form before Blur?", ("yes", "no")),
        ("Woman's Era and Naj are what kind of magazines?", None),
        ("How many people live in Rome?", None),
    ],
)
def test_choices_from_the_question_form(question: str, choices: tuple[str, ...] | None) -> None:
    assert answer_choices(question) == choices


def test_options_win() -> None:
    assert answer_choices("Which movie is like Heat?", ["Ronin", "Up"]) == ("Ronin", "Up")
