"""Grammar front ends and the IR they produce (see `grammask.grammar.ir`)."""
from .ir import Grammar, GrammarWarning, Rule, SourcePos, Terminal

__all__ = ["Grammar", "GrammarWarning", "Rule", "SourcePos", "Terminal"]
