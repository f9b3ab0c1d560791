"""One string field of a JSON object, read as the object streams in.

The Evaluator answers with a JSON verdict (`{"approved": …, "reasoning": "…", …}`); a
person watching it should read the reasoning as it is written, not the JSON. Whole-text
parsers (json, pydantic's partial mode) need the text so far on every chunk, which is
quadratic in a long answer; this reader keeps a little state instead and returns, per
chunk, the decoded characters of the field that chunk completed. Chunks may split the
text anywhere: inside a key, an escape (`\\n`, `\\"`, `\\u00e9`) or a surrogate pair.
"""

_SIMPLE_ESCAPES = {
    '"': '"',
    "\\": "\\",
    "/": "/",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
}


class JsonStringFieldReader:
    """Streams the value of the top-level string field `name` of one JSON object."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._depth = 0
        self._in_string = False
        # At depth 1 a string is a key when it comes after `{` or `,`.
        self._expect_key = False
        self._string_is_key = False
        self._key: list[str] = []
        self._last_key: str | None = None
        self._streaming = False
        # An escape being read ("\\", "\\u00", …) and a high surrogate awaiting its pair.
        self._escape = ""
        self._high_surrogate: int | None = None

    def feed(self, chunk: str) -> str:
        """The field's characters that `chunk` completes ("" when it completes none)."""
        out: list[str] = []
        for ch in chunk:
            if self._in_string:
                self._string_char(ch, out)
            elif ch == '"':
                self._in_string = True
                self._string_is_key = self._depth == 1 and self._expect_key
                self._streaming = (
                    self._depth == 1 and not self._string_is_key and self._last_key == self.name
                )
                self._key = []
            elif ch in "{[":
                self._depth += 1
                self._expect_key = ch == "{" and self._depth == 1
            elif ch in "}]":
                self._depth -= 1
            elif ch == "," and self._depth == 1:
                self._expect_key = True
            elif ch == ":" and self._depth == 1:
                self._expect_key = False
        return "".join(out)

    def _string_char(self, ch: str, out: list[str]) -> None:
        if self._escape:
            self._escape += ch
            decoded = self._decode_escape()
            if decoded is not None:
                self._escape = ""
                self._add(decoded, out)
        elif ch == "\\":
            self._escape = "\\"
        elif ch == '"':
            self._in_string = False
            self._flush_surrogate(out)
            if self._string_is_key:
                self._last_key = "".join(self._key)
            elif self._depth == 1:
                self._last_key = None
            self._streaming = False
        else:
            self._add(ch, out)

    def _decode_escape(self) -> str | None:
        """The escape's text once complete (None while more is needed)."""
        kind = self._escape[1]
        if kind != "u":
            return _SIMPLE_ESCAPES.get(kind, kind)
        if len(self._escape) < 6:
            return None
        try:
            code = int(self._escape[2:6], 16)
        except ValueError:
            return "\ufffd"
        return chr(code)  # a surrogate is paired (or replaced) in `_add`

    def _add(self, text: str, out: list[str]) -> None:
        code = ord(text) if len(text) == 1 else -1
        if self._high_surrogate is not None:
            high, self._high_surrogate = self._high_surrogate, None
            if 0xDC00 <= code <= 0xDFFF:
                text = chr(0x10000 + ((high - 0xD800) << 10) + (code - 0xDC00))
                code = -1
            else:
                self._emit("\ufffd", out)  # a lone high surrogate
        if 0xD800 <= code <= 0xDBFF:
            self._high_surrogate = code
            return
        if 0xDC00 <= code <= 0xDFFF:
            text = "\ufffd"  # a lone low surrogate
        self._emit(text, out)

    def _flush_surrogate(self, out: list[str]) -> None:
        if self._high_surrogate is not None:
            self._high_surrogate = None
            self._emit("\ufffd", out)

    def _emit(self, text: str, out: list[str]) -> None:
        if self._string_is_key:
            self._key.append(text)
        elif self._streaming:
            out.append(text)
