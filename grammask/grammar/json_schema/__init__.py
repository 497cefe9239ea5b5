"""JSON Schema (draft 2020-12, and the draft-04/06/07 spellings) -> grammar IR.

`schema_to_grammar(schema, options)` is the front end; `grammask.compile_json_schema` compiles
its result against a tokenizer. See `builder` for how schemas map to rules and terminals."""
from .builder import GrammarBuilder, JsonSchemaOptions, schema_to_grammar

__all__ = ["GrammarBuilder", "JsonSchemaOptions", "schema_to_grammar"]
