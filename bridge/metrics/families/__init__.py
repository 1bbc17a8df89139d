"""One module per metric family; each records from (EntryView, Ends, SpanSet) into a MetricStore."""
