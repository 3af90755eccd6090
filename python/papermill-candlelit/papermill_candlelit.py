"""papermill parameters for the candlelit Rust kernel.

papermill writes the parameters it is given (`-p epochs 1`) into a new cell after the notebook's
`parameters` cell, in the kernel's language. For Rust it writes `let epochs = 1;` under a first line
`// Parameters — set by papermill`; the candlelit kernel gives each such variable the type the notebook
declared it with earlier (`let epochs: usize = 30;`), as `candlelit run -p` does.
"""

import math

from papermill.engines import NBClientEngine
from papermill.translators import Translator, papermill_translators

# The first line of the injected cell; the kernel looks for it (kernel/src/papermill.rs).
HEADER = "Parameters — set by papermill"


class RustTranslator(Translator):
    """Python values as Rust literals."""

    @classmethod
    def translate_none(cls, val):
        return "None"

    @classmethod
    def translate_str(cls, val):
        escaped = "".join(
            {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(c)
            or (c if c.isprintable() else f"\\u{{{ord(c):x}}}")
            for c in val
        )
        return f'"{escaped}"'

    @classmethod
    def translate_escaped_str(cls, str_val):
        return cls.translate_str(str_val)

    @classmethod
    def translate_bool(cls, val):
        return "true" if val else "false"

    @classmethod
    def translate_int(cls, val):
        return str(val)

    @classmethod
    def translate_float(cls, val):
        if math.isnan(val):
            return "f64::NAN"
        if math.isinf(val):
            return "f64::INFINITY" if val > 0 else "f64::NEG_INFINITY"
        text = repr(val)
        return text if any(c in text for c in ".eE") else text + ".0"

    @classmethod
    def translate_list(cls, val):
        return "vec![" + ", ".join(cls.translate(v) for v in val) + "]"

    @classmethod
    def translate_dict(cls, val):
        raise NotImplementedError("candlelit parameters are numbers, text, booleans or lists of them")

    @classmethod
    def comment(cls, cmt_str):
        return f"// {HEADER}" if cmt_str == "Parameters" else f"// {cmt_str}"

    @classmethod
    def assign(cls, name, str_val):
        return f"let {name} = {str_val};"


class CandlelitEngine(NBClientEngine):
    """papermill's default engine; `--engine candlelit` works too."""


papermill_translators.register("rust", RustTranslator)
papermill_translators.register("candlelit", RustTranslator)
