"""Adapters that let the benchmarks drive grammask and peer engines through one interface."""
