"""Grammar front ends and the IR they produce (see `grammask.grammar.ir`)."""
from .gbnf_frontend import load_gbnf, load_gbnf_file
from .ir import Grammar, GrammarWarning, Rule, SourcePos, Terminal
from .lark_frontend import load_lark, load_lark_file

__all__ = ["Grammar", "GrammarWarning", "Rule", "SourcePos", "Terminal", "load_gbnf",
           "load_gbnf_file", "load_lark", "load_lark_file"]
