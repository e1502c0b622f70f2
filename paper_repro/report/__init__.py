"""Tables and figures, made only from saved results (never by training)."""
