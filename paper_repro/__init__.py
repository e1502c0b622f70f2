"""paper_repro: margin-based softmax losses (L-Softmax, A-Softmax, LMCL, ArcFace, BD-LMCL),
the networks and training loop that retrain the papers' tables, and the reports made from them."""

__version__ = "0.1.0"
