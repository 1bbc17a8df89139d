"""Extensions: components outside the pipelines (the Collector's `extensions:` section)."""
