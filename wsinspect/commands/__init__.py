"""What the `wsinspect` command runs that is not the inspector's screen: `record` and `recover`, and
the progress line of their long writes (and `open`'s reads)."""
