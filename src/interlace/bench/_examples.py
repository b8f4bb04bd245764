"""Few-shot examples per benchmark, in the formats of docs/architecture.md ("Example formats").

Written for this project (facts about well-known entities, our own wording), kept short: the
default model is 0.5B on a CPU, where every 100 prompt tokens cost about a second of prefill.
None of these questions (nor their entity sets) occurs in the benchmark data; the tests check
this against the whole dataset files.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class Examples:
    """The example texts of one benchmark.

    Attributes:
        planner: LLMCompiler planner examples, separated by ``###``.
        joiner: LLMCompiler joiner examples, separated by ``###``.
        react: ReAct examples, separated by ``###``.
    """

    planner: str
    joiner: str
    react: str


_HQ1 = "Question: Were the painters Frida Kahlo and Pablo Picasso born in the same country?"
_HQ2 = "Question: Which opened first, the Golden Gate Bridge or the Brooklyn Bridge?"
_KAHLO = "Frida Kahlo (1907-1954) was a Mexican painter known for her self-portraits."
_PICASSO = "Pablo Picasso (1881-1973) was a Spanish painter who spent most of his life in France."
_HQ3 = "Question: Were the composers Johann Sebastian Bach and George Frideric Handel both German?"
_BACH = "Johann Sebastian Bach (1685-1750) was a German composer born in Eisenach."
_HANDEL = "George Frideric Handel (1685-1759) was a German-born composer who worked in London."
_GOLDEN = "The Golden Gate Bridge in San Francisco opened in 1937."
_BROOKLYN = "The Brooklyn Bridge in New York City opened in 1883."

# Three answer shapes on purpose: a small model copies the example's answer, so one example says
# "no", one "yes" and one names an entity (HotpotQA comparison answers are yes/no or one of the
# two). With only the "no" example, ReAct on the 0.5B model answered "no" to 7 of 7 yes/no
# questions of a tuning sample (HotpotQA comparison questions 100-115, 2026-12-01).
HOTPOTQA = Examples(
    planner=f"""{_HQ1}
1. search("Frida Kahlo")
2. search("Pablo Picasso")
3. join()
<END_OF_PLAN>
###
{_HQ2}
1. search("Golden Gate Bridge")
2. search("Brooklyn Bridge")
3. join()
<END_OF_PLAN>
###
{_HQ3}
1. search("Johann Sebastian Bach")
2. search("George Frideric Handel")
3. join()
<END_OF_PLAN>""",
    joiner=f"""{_HQ1}
Observation 1: {_KAHLO}
Observation 2: {_PICASSO}
Thought: Kahlo was Mexican and Picasso was Spanish, so not the same country.
Action: Finish(no)
###
{_HQ2}
Observation 1: {_GOLDEN}
Observation 2: {_BROOKLYN}
Thought: 1883 is earlier than 1937.
Action: Finish(Brooklyn Bridge)
###
{_HQ3}
Observation 1: {_BACH}
Observation 2: {_HANDEL}
Thought: Bach was German and Handel was German-born, so both were German.
Action: Finish(yes)""",
    react=f"""{_HQ1}
Thought: I need where Frida Kahlo was born.
Action: search("Frida Kahlo")
Observation: {_KAHLO}
Thought: Now Pablo Picasso.
Action: search("Pablo Picasso")
Observation: {_PICASSO}
Thought: Kahlo was Mexican and Picasso was Spanish, so not the same country.
Action: Finish(no)
###
{_HQ2}
Thought: I need when the Golden Gate Bridge opened.
Action: search("Golden Gate Bridge")
Observation: {_GOLDEN}
Thought: Now the Brooklyn Bridge.
Action: search("Brooklyn Bridge")
Observation: {_BROOKLYN}
Thought: 1883 is earlier than 1937.
Action: Finish(Brooklyn Bridge)
###
{_HQ3}
Thought: I need where Johann Sebastian Bach was from.
Action: search("Johann Sebastian Bach")
Observation: {_BACH}
Thought: Now George Frideric Handel.
Action: search("George Frideric Handel")
Observation: {_HANDEL}
Thought: Bach was German and Handel was German-born, so both were German.
Action: Finish(yes)""",
)

_MQ = """Question: Find a movie similar to Vertigo, Annie Hall, Grease, Chinatown
Options:
Paddington 2
Rear Window
Frozen II
The Emoji Movie"""
_MOVIES = (
    "Vertigo",
    "Annie Hall",
    "Grease",
    "Chinatown",
    "Paddington 2",
    "Rear Window",
    "Frozen II",
    "The Emoji Movie",
)

MOVIE = Examples(
    planner=_MQ
    + "\n"
    + "\n".join(f'{i}. search("{m}")' for i, m in enumerate(_MOVIES, 1))
    + "\n9. join()\n<END_OF_PLAN>",
    joiner=f"""{_MQ}
Observation 1: Vertigo (1958) is a movie. Genres: Drama, Mystery, Thriller. Tags: hitchcock.
Observation 6: Rear Window (1954) is a movie. Genres: Mystery, Thriller. Tags: hitchcock.
Observation 7: Frozen II (2019) is a movie. Genres: Animation, Children, Fantasy.
Thought: The liked movies are 1950s-70s classics; Rear Window is a Hitchcock thriller like Vertigo.
Action: Finish(Rear Window)""",
    react=f"""{_MQ}
Thought: Vertigo is a Hitchcock thriller; check the option that may match it.
Action: search("Rear Window")
Observation: Rear Window (1954) is a movie. Genres: Mystery, Thriller. Tags: hitchcock.
Thought: Rear Window is a classic Hitchcock thriller, the closest to these classics.
Action: Finish(Rear Window)""",
)

_PQ = (
    "Question: If Lake Baikal were 10% deeper and Lake Tanganyika 25% deeper, "
    "which lake would be deeper?"
)
_BAIKAL = (
    "Lake Baikal in Siberia is the deepest lake in the world, with a maximum depth of 1,642 m."
)
_TANGA = "Lake Tanganyika in East Africa has a maximum depth of 1,470 m."

PARALLELQA = Examples(
    planner=f"""{_PQ}
1. search("Lake Baikal")
2. search("Lake Tanganyika")
3. math("the maximum depth increased by 10%", $1)
4. math("the maximum depth increased by 25%", $2)
5. join()
<END_OF_PLAN>""",
    joiner=f"""{_PQ}
Observation 1: {_BAIKAL}
Observation 2: {_TANGA}
Observation 3: 1806.2
Observation 4: 1837.5
Thought: 1837.5 m is more than 1806.2 m.
Action: Finish(Lake Tanganyika)""",
    react=f"""{_PQ}
Thought: I need the depth of Lake Baikal.
Action: search("Lake Baikal")
Observation: {_BAIKAL}
Thought: Now Lake Tanganyika.
Action: search("Lake Tanganyika")
Observation: {_TANGA}
Thought: Baikal becomes 1642 * 1.1 = 1806.2 m and Tanganyika 1470 * 1.25 = 1837.5 m.
Action: Finish(Lake Tanganyika)""",
)
