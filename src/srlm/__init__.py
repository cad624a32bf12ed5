"""srlm: Self-Rewarding and Meta-Rewarding Language Models.

Implements Yuan et al. 2024 ("Self-Rewarding Language Models", arXiv 2401.10020) and
Wu et al. 2024 ("Meta-Rewarding Language Models", arXiv 2407.19594).
"""

__version__ = "0.1.0"
