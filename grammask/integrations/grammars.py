"""Small grammars shipped with the package (as strings, so they need no package data).

`PYTHON_FUNCTION_LARK`: one Python function definition — ``def``, parameters with annotations and
defaults, ``if``/``elif``/``else``, ``for``, ``while``, ``return``, assignments, arithmetic,
comparisons, calls, subscripts, lists, strings. Indentation is real: ``_NEWLINE`` carries the
line break and the next line's indentation, and the engine turns changes of indentation into the
declared ``_INDENT`` / ``_DEDENT`` tokens as Lark's Python indenter does. The text must end with a
newline, after which the function is complete and a stop token is allowed. Comments are left out
on purpose: a small model tends to trail a function with endless ``# test`` lines, and without them
the grammar forces it to stop. It is a subset of Python: everything it accepts is valid Python
(``ast.parse``), not the reverse (numbers are greedy, ``0.`` included, so ``0.b`` cannot lex as an
attribute of ``0``).
"""
from __future__ import annotations

__all__ = ["PYTHON_FUNCTION_LARK"]

PYTHON_FUNCTION_LARK = r"""
start: _NEWLINE* funcdef
funcdef: "def" NAME "(" [parameters] ")" ["->" test] ":" suite
parameters: param ("," param)*
param: NAME [":" test] ["=" test]
suite: simple_stmt | _NEWLINE _INDENT stmt+ _DEDENT
?stmt: simple_stmt | compound_stmt
simple_stmt: small_stmt _NEWLINE
?small_stmt: expr_stmt | return_stmt | pass_stmt | break_stmt | continue_stmt | raise_stmt
expr_stmt: testlist (augassign testlist | ("=" testlist)*)
!augassign: "+=" | "-=" | "*=" | "/=" | "//=" | "%="
return_stmt: "return" [testlist]
pass_stmt: "pass"
break_stmt: "break"
continue_stmt: "continue"
raise_stmt: "raise" [test]
?compound_stmt: if_stmt | while_stmt | for_stmt
if_stmt: "if" test ":" suite ("elif" test ":" suite)* ["else" ":" suite]
while_stmt: "while" test ":" suite
for_stmt: "for" NAME ("," NAME)* "in" test ":" suite
testlist: test ("," test)*
?test: or_test ["if" or_test "else" test]
?or_test: and_test ("or" and_test)*
?and_test: not_test ("and" not_test)*
?not_test: "not" not_test | comparison
?comparison: arith (comp_op arith)*
!comp_op: "<" | ">" | "==" | ">=" | "<=" | "!=" | "in" | "not" "in" | "is" | "is" "not"
?arith: term (add_op term)*
?term: factor (mul_op factor)*
!add_op: "+" | "-"
!mul_op: "*" | "/" | "%" | "//"
?factor: "-" factor | power
?power: primary ["**" factor]
?primary: primary "(" [arguments] ")" | primary "[" subscript "]" | primary "." NAME | atom
arguments: test ("," test)*
subscript: test | [test] ":" [test]
?atom: "(" test ")" | "[" [test ("," test)*] "]" | NAME | NUMBER | STRING | "None" | "True" | "False"
NAME: /[A-Za-z_][A-Za-z_0-9]*/
NUMBER: /(0|[1-9][0-9]*)(\.[0-9]*)?|\.[0-9]+/
STRING: /"[^"\\\n]*"|'[^'\\\n]*'/
_NEWLINE: /(\r?\n[\t ]*)+/
%declare _INDENT _DEDENT
%ignore /[\t ]+/
"""
