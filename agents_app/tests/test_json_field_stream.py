"""The Evaluator's reasoning read out of its streaming JSON verdict, cut anywhere."""

import itertools
import json

from hypothesis import given
from hypothesis import strategies as st

from agents_app.json_field_stream import JsonStringFieldReader


def read(chunks: list[str]) -> str:
    reader = JsonStringFieldReader("reasoning")
    return "".join(reader.feed(chunk) for chunk in chunks)


def cut(text: str, points: list[int]) -> list[str]:
    bounds = sorted({0, len(text), *(p % (len(text) + 1) for p in points)})
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


def test_every_single_character_chunk_of_escapes_and_a_surrogate_pair() -> None:
    reasoning = 'Line "one"\\\n\ttab é 𝄞 \u2028 /'
    verdict = {"approved": True, "reasoning": reasoning, "commit_message": "feat: x"}
    text = json.dumps(verdict)  # ensure_ascii: é is \u00e9, 𝄞 a \ud834\udd1e pair
    assert "\\ud834\\udd1e" in text
    assert read(list(text)) == reasoning
    assert read([text]) == reasoning


def test_only_the_top_level_field_and_never_keys_or_other_values() -> None:
    text = (
        '{"notes": {"reasoning": "nested"}, "list": ["reasoning", {"a": "b"}],'
        ' "approved" : false , "reasoning" : "Fix the tool.", "commit_message": "reasoning"}'
    )
    assert read(list(text)) == "Fix the tool."


def test_the_text_comes_as_it_streams() -> None:
    reader = JsonStringFieldReader("reasoning")
    assert reader.feed('{"approved": true, "reaso') == ""
    assert reader.feed('ning": "Looks') == "Looks"
    assert reader.feed(" right\\") == " right"
    assert reader.feed('u00e9.", "commit') == "é."
    assert reader.feed('_message": "feat: x"}') == ""


def test_lone_surrogates_and_bad_escapes_become_replacement_characters() -> None:
    assert read(['{"reasoning": "a\\ud834b\\udd1ec\\uzzzzd"}']) == "a\ufffdb\ufffdc\ufffdd"


@given(
    reasoning=st.text(),
    before=st.dictionaries(
        st.text(max_size=8),
        st.recursive(
            st.none() | st.booleans() | st.text(max_size=8),
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(st.text(max_size=5), inner, max_size=3)
            ),
            max_leaves=6,
        ),
        max_size=3,
    ),
    ascii_only=st.booleans(),
    points=st.lists(st.integers(min_value=0, max_value=10_000), max_size=12),
)
def test_any_verdict_cut_anywhere_gives_back_the_reasoning(
    reasoning: str, before: dict[str, object], ascii_only: bool, points: list[int]
) -> None:
    before.pop("reasoning", None)
    text = json.dumps({**before, "reasoning": reasoning, "tail": before}, ensure_ascii=ascii_only)
    # json.dumps writes lone surrogates as escapes: read back as replacement characters.
    expected = reasoning.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    assert read(cut(text, points)) == expected
