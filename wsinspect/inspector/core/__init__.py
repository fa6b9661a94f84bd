"""What the inspector holds and reads, without a screen (sans-I/O): the stores, the filters and their
index, field filters, pairing. Nothing here imports Textual."""
