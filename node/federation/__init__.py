"""Federation: inbox, processing, delivery queue, actor resolution."""

__all__: list[str] = []
