"""Controllers and their storage: the versioned ``checkpoint.pkl`` format (:mod:`mmbio.control.checkpoint`)."""
