"""Adapters to inference stacks (torch kernels now; transformers, vLLM, llama.cpp next)."""
