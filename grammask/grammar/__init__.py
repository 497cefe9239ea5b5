"""Placeholder package: filled by later issues (see README roadmap)."""
